"""Talk2CarDataset on real-format edge cases, and predictions.json round trips."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from mmdl_lib.data.talk2car import Talk2CarDataset, denormalize_box, normalize_box
from mmdl_lib.errors import DataFormatError


def _release(tmp_path, commands, split="train", layout="official", size=(160, 90)):
    commands_dir = tmp_path / ("commands" if layout == "official" else "t2c/data")
    images_dir = tmp_path / ("images" if layout == "official" else "t2c/pics")
    commands_dir.mkdir(parents=True, exist_ok=True)
    images_dir.mkdir(parents=True, exist_ok=True)
    for c in commands:
        Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(images_dir / c["t2c_img"])
    (commands_dir / f"{split}_commands.json").write_text(json.dumps({"commands": commands, "scene_tokens": []}))
    return tmp_path


def _cmd(i, box="default", **extra):
    c = {"command": f"follow the car {i}", "command_token": f"tok{i}", "t2c_img": f"img_train_{i}.jpg", **extra}
    if box is not None:
        c["2d_box"] = [16, 9, 32, 18] if box == "default" else box
    return c


def test_boxes_normalised_by_the_actual_image_size(tmp_path):
    ds = Talk2CarDataset(_release(tmp_path, [_cmd(0)]), "train", image_size=(64, 36))
    assert ds.items[0].box == pytest.approx((0.1, 0.1, 0.2, 0.2))
    item = ds[0]
    assert item["image"].shape == (3, 36, 64) and item["box"].tolist() == pytest.approx([0.1, 0.1, 0.2, 0.2])


def test_path_search_finds_a_flattened_copy(tmp_path):
    ds = Talk2CarDataset(_release(tmp_path, [_cmd(0)], layout="flat"), "train")
    assert ds.commands_file.name == "train_commands.json" and ds.image_folder.name == "pics"


def test_missing_image_names_the_file(tmp_path):
    root = _release(tmp_path, [_cmd(0), _cmd(1)])
    (root / "images" / "img_train_1.jpg").unlink()
    with pytest.raises(DataFormatError, match="img_train_1.jpg.*tok1 not found"):
        Talk2CarDataset(root, "train")


def test_command_without_box_in_train_is_an_error_but_not_in_test(tmp_path):
    with pytest.raises(DataFormatError, match="'2d_box'.*tok0 has no box"):
        Talk2CarDataset(_release(tmp_path / "a", [_cmd(0, box=None)]), "train")
    test = Talk2CarDataset(_release(tmp_path / "b", [_cmd(0, box=None)], split="test"), "test")
    assert test.items[0].box is None and torch.isnan(test[0]["box"]).all() and not test.has_boxes


def test_a_test_split_with_boxes_is_scored_like_val(tmp_path):
    """The public test_commands.json carries 2d_box like train and val: chapter 02 then scores it."""
    test = Talk2CarDataset(_release(tmp_path, [_cmd(0), _cmd(1, box=[0, 0, 80, 45])], split="test"), "test")
    assert test.has_boxes
    assert torch.allclose(test.boxes, torch.tensor([[0.1, 0.1, 0.2, 0.2], [0.0, 0.0, 0.5, 0.5]]))
    mixed = Talk2CarDataset(_release(tmp_path / "m", [_cmd(0), _cmd(1, box=None)], split="test"), "test")
    assert not mixed.has_boxes  # partly boxed: not scored, predictions only


def test_box_outside_the_image_is_an_error_and_a_small_overhang_is_clipped(tmp_path):
    with pytest.raises(DataFormatError, match=r"tok0: box \[200, 10, 20, 20\] lies mostly outside the 160×90 image"):
        Talk2CarDataset(_release(tmp_path / "a", [_cmd(0, box=[200, 10, 20, 20])]), "train")
    with pytest.raises(DataFormatError, match=r"tok0: box \[150, 80, 20, 20\] lies mostly outside"):  # 1/4 inside
        Talk2CarDataset(_release(tmp_path / "c", [_cmd(0, box=[150, 80, 20, 20])]), "train")
    ds = Talk2CarDataset(_release(tmp_path / "b", [_cmd(0, box=[150, 82, 12, 12])]), "train")  # 10×8 of 12×12 inside
    assert ds.report["boxes clipped to the image"] == 1
    assert ds.items[0].box == pytest.approx((150 / 160, 82 / 90, 10 / 160, 8 / 90))


MALFORMED_COMMANDS = [  # (what is wrong, the commands, what the error must name)
    ("null command", [_cmd(0, command=None)], r"\[field 'command'\]: expected str, got NoneType"),
    ("missing command", [{k: v for k, v in _cmd(0).items() if k != "command"}], r"\[field 'command'\]: missing"),
    ("empty command", [_cmd(0, command="  ")], r"\[field 'command'\]: command tok0 is empty"),
    ("NaN in the box", [_cmd(0, box=[1, 2, float("nan"), 4])], r"2d_box of command tok0.*finite"),
    ("infinite width", [_cmd(0, box=[1, 2, float("inf"), 4])], r"2d_box of command tok0.*finite"),
    ("string in the box", [_cmd(0, box=[1, "2", 3, 4])], r"2d_box of command tok0.*expected a number"),
    ("negative width", [_cmd(0, box=[50, 20, -10, 4])], r"tok0: box \[50, 20, -10, 4\] has no area"),
    ("three numbers", [_cmd(0, box=[1, 2, 3])], r"expected \[x, y, w, h\]"),
    ("duplicate token", [_cmd(0), _cmd(1, command_token="tok0")], r"\[field 'command_token'\]: 'tok0' appears"),
    ("token not a string", [_cmd(0, command_token=7)], r"\[field 'command_token'\]: expected str"),
    ("image name null", [{**_cmd(0), "t2c_img": None}], r"\[field 't2c_img'\]"),
    ("command not an object", ["follow the car"], r"\[field 'commands'\]: expected an object"),
]


@pytest.mark.parametrize("what, commands, message", MALFORMED_COMMANDS, ids=[m[0] for m in MALFORMED_COMMANDS])
def test_a_malformed_command_names_the_file_and_the_field(tmp_path, what, commands, message):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((90, 160, 3), np.uint8)).save(tmp_path / "images" / "img_train_0.jpg")
    Image.fromarray(np.zeros((90, 160, 3), np.uint8)).save(tmp_path / "images" / "img_train_1.jpg")
    (tmp_path / "commands").mkdir()
    (tmp_path / "commands" / "train_commands.json").write_text(json.dumps({"commands": commands}))
    with pytest.raises(DataFormatError, match=f"train_commands.json.*{message}"):
        Talk2CarDataset(tmp_path, "train")


def test_a_truncated_image_or_one_of_another_size_names_the_image(tmp_path):
    root = _release(tmp_path, [_cmd(0)])
    image = root / "images" / "img_train_0.jpg"
    image.write_bytes(image.read_bytes()[:300])
    with pytest.raises(DataFormatError, match="img_train_0.jpg.*unreadable image"):
        Talk2CarDataset(root, "train", preload=True)


def test_malformed_predictions_name_the_file_and_the_token(tiny_world, tmp_path):
    from mmdl_lib.data.talk2car import read_predictions

    ds = Talk2CarDataset(tiny_world / "talk2car", "val")
    token = ds.items[0].command_token
    good = {item.command_token: [1.0, 2.0, 30.0, 40.0] for item in ds.items}
    for bad, message in (({**good, token: None}, "expected \\[x, y, w, h\\]"),
                         ({**good, token: [1, 2, float("nan"), 4]}, "finite"),
                         ({**good, token: [1, 2, 0, 4]}, "no area"),
                         ({k: v for k, v in good.items() if k != token}, "no prediction for command")):
        (tmp_path / "p.json").write_text(json.dumps(bad))
        with pytest.raises(DataFormatError, match=f"p.json \\[field '{token}'\\]: .*{message}"):
            read_predictions(tmp_path / "p.json", ds)
    (tmp_path / "p.json").write_text(json.dumps(list(good.values())))
    with pytest.raises(DataFormatError, match="p.json: expected an object"):
        read_predictions(tmp_path / "p.json", ds)


def test_malformed_box_and_empty_split(tmp_path):
    with pytest.raises(DataFormatError, match="expected \\[x, y, w, h\\]"):
        Talk2CarDataset(_release(tmp_path / "a", [_cmd(0, box=[1, 2, 3])]), "train")
    (tmp_path / "b" / "commands").mkdir(parents=True)
    (tmp_path / "b" / "commands" / "val_commands.json").write_text('{"commands": []}')
    with pytest.raises(DataFormatError, match="has no commands"):
        Talk2CarDataset(tmp_path / "b", "val")


def test_box_conventions_round_trip():
    box = [123.0, 45.0, 300.0, 150.0]
    assert denormalize_box(normalize_box(box, 1600, 900), 1600, 900) == pytest.approx(box)


def test_predictions_json_round_trips_in_pixels(tiny_world, tmp_path):
    from mmdl_lib.data.talk2car import read_predictions, write_predictions

    ds = Talk2CarDataset(tiny_world / "talk2car", "val", image_size=(96, 54))
    pred = torch.rand(len(ds), 4) * 0.5
    path = write_predictions(tmp_path / "predictions.json", ds, pred)
    data = json.loads(path.read_text())
    assert set(data) == {c.command_token for c in ds.items}
    width, height = ds.items[0].image_size
    assert data[ds.items[0].command_token] == pytest.approx(denormalize_box(pred[0].tolist(), width, height), abs=0.01)
    assert torch.allclose(read_predictions(path, ds), pred, atol=1e-3)


def test_synthetic_commands_share_images(tiny_world):
    ds = Talk2CarDataset(tiny_world / "talk2car", "train")
    assert len(ds.images) <= len(ds) and ds.image_index.max() == len(ds.images) - 1


SYNTHETIC_DEFECTS = [  # an edit of the first command of a copy of the synthetic release, and what the error names
    ("null command", lambda c: c[0].update(command=None), "field 'command'"),
    ("empty command", lambda c: c[0].update(command=""), "field 'command'"),
    ("no command", lambda c: c[0].pop("command"), "field 'command'"),
    ("NaN box", lambda c: c[0].update({"2d_box": [1, 2, float("nan"), 4]}), "2d_box of command"),
    ("infinite width", lambda c: c[0].update({"2d_box": [1, 2, float("inf"), 4]}), "2d_box of command"),
    ("negative height", lambda c: c[0].update({"2d_box": [1, 2, 4, -4]}), "has no area"),
    ("box off the image", lambda c: c[0].update({"2d_box": [5000, 2, 4, 4]}), "lies mostly outside"),
    ("box of five", lambda c: c[0].update({"2d_box": [1, 2, 3, 4, 5]}), "expected \\[x, y, w, h\\]"),
    ("null box", lambda c: c[0].update({"2d_box": None}), "has no box"),
    ("repeated token", lambda c: c[1].update(command_token=c[0]["command_token"]), "appears more than once"),
    ("token a number", lambda c: c[0].update(command_token=12), "field 'command_token'"),
    ("missing image", lambda c: c[1].update(t2c_img="img_train_999.jpg"), "image of command .* not found"),
    ("a command that is a string", lambda c: c.append("turn left"), "expected an object per command"),
]


@pytest.mark.parametrize("what, edit, message", SYNTHETIC_DEFECTS, ids=[d[0] for d in SYNTHETIC_DEFECTS])
def test_a_defect_in_a_copy_of_the_synthetic_release_is_named(tiny_world, tmp_path, what, edit, message):
    import shutil

    root = shutil.copytree(tiny_world / "talk2car", tmp_path / "talk2car")
    path = root / "commands" / "train_commands.json"
    data = json.loads(path.read_text())
    edit(data["commands"])
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=message):
        Talk2CarDataset(root, "train")
