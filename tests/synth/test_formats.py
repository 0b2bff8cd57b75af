"""Every synthetic format loads with the real tools and is internally consistent."""

import csv
import filecmp
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmdl_lib.data.kitti import read_calib, read_depth, read_label, read_velodyne
from mmdl_lib.errors import MMDLError
from mmdl_lib.synth import FORMATS, write_synthetic


def test_coco_loads_with_pycocotools_and_boxes_lie_inside(tiny_world):
    from pycocotools.coco import COCO

    for split in ("train", "val"):
        coco = COCO(str(tiny_world / "coco" / "annotations" / f"instances_{split}2017.json"))
        assert coco.getCatIds() and coco.getAnnIds()
        for ann in coco.loadAnns(coco.getAnnIds()):
            image = coco.loadImgs(ann["image_id"])[0]
            x, y, w, h = ann["bbox"]
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= image["width"] and y + h <= image["height"]
            assert coco.annToMask(ann).sum() == ann["area"]
            assert Path(tiny_world / "coco" / f"{split}2017" / image["file_name"]).is_file()
        captions = COCO(str(tiny_world / "coco" / "annotations" / f"captions_{split}2017.json"))
        assert all(a["caption"] for a in captions.dataset["annotations"])


def test_coco_has_small_and_large_objects(tiny_world):
    data = json.loads((tiny_world / "coco" / "annotations" / "instances_train2017.json").read_text())
    areas = np.array([a["area"] for a in data["annotations"]])
    assert (areas < 32**2).any() and (areas >= 32**2).any()


def test_talk2car_fields_and_targets_are_rendered_objects(tiny_world):
    root = tiny_world / "talk2car"
    required = {"command", "command_token", "t2c_img", "2d_box", "obj_name", "scene_token", "sample_token",
                "box_token", "translation", "size", "rotation"}
    for split in ("train", "val", "test"):  # the public test split carries boxes too
        data = json.loads((root / "commands" / f"{split}_commands.json").read_text())
        objects = json.loads((root / "commands" / f"{split}_objects.json").read_text())
        assert set(data) == {"commands", "scene_tokens"}
        for c in data["commands"]:
            assert required <= set(c), required - set(c)
            width, height = Image.open(root / "images" / c["t2c_img"]).size
            assert abs(width / height - 16 / 9) < 0.01
            x, y, w, h = c["2d_box"]
            assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width and y + h <= height
            # the target is one of the visible objects: its visible box lies inside the 3D box's projection
            overlaps = [o for o in objects[c["t2c_img"]]
                        if o["box"][0] >= x - 1 and o["box"][1] >= y - 1
                        and o["box"][0] + o["box"][2] <= x + w + 1 and o["box"][1] + o["box"][3] <= y + h + 1]
            assert overlaps, c
            assert len(objects[c["t2c_img"]]) >= 2  # distractors present


def test_kitti_lidar_projection_agrees_with_depth(tiny_world):
    part = tiny_world / "kitti" / "training"
    for stem in ("000000", "000001", "000002"):
        calib = read_calib(part / "calib" / f"{stem}.txt")
        points = read_velodyne(part / "velodyne" / f"{stem}.bin")
        depth = read_depth(part / "depth_2" / f"{stem}.png")
        uv, z = calib.velo_to_image(points)
        u, v = np.round(uv).astype(int).T
        inside = (z > 1) & (u >= 0) & (u < depth.shape[1]) & (v >= 0) & (v < depth.shape[0])
        assert inside.sum() > 500
        rendered = depth[v[inside], u[inside]]
        relative = np.abs(rendered - z[inside]) / z[inside]
        assert np.median(relative) < 0.01
        assert np.mean(relative < 0.05) > 0.95  # the rest sit on depth edges


def test_kitti_labels_and_image_sets(tiny_world):
    root = tiny_world / "kitti"
    train = (root / "ImageSets" / "train.txt").read_text().split()
    val = (root / "ImageSets" / "val.txt").read_text().split()
    assert train and val and not set(train) & set(val)
    for stem in train + val:
        image = Image.open(root / "training" / "image_2" / f"{stem}.png")
        lines = (root / "training" / "label_2" / f"{stem}.txt").read_text().splitlines()
        assert all(len(line.split()) == 15 for line in lines)
        for obj in read_label(root / "training" / "label_2" / f"{stem}.txt"):
            left, top, right, bottom = obj.bbox
            assert 0 <= left < right <= image.width and 0 <= top < bottom <= image.height
            assert 0 <= obj.truncated <= 1 and obj.occluded in (0, 1, 2)
            assert obj.location[2] > 0 and np.all(obj.dimensions > 0)


def test_cityscapes_uses_official_label_ids(tiny_world):
    from cityscapesscripts.helpers.labels import id2label

    labels = sorted((tiny_world / "cityscapes" / "gtFine").rglob("*_gtFine_labelIds.png"))
    assert labels
    seen = set()
    for path in labels:
        ids = np.unique(np.asarray(Image.open(path)))
        assert all(int(i) in id2label for i in ids)
        seen |= {id2label[int(i)].name for i in ids}
        image = path.parent.parent.parent.parent / "leftImg8bit" / path.relative_to(
            path.parent.parent.parent).with_name(path.name.replace("gtFine_labelIds", "leftImg8bit"))
        assert image.is_file()
    assert {"road", "sky", "car", "building"} <= seen


def test_ood_labels(tiny_world):
    root = tiny_world / "ood"
    images = sorted((root / "images").glob("*.png"))
    assert images
    for image in images:
        label = np.asarray(Image.open(root / "labels" / image.name))
        assert set(np.unique(label)) <= {0, 1, 255}
        assert (label == 1).sum() > 0
        assert label.shape == np.asarray(Image.open(image)).shape[:2]


def test_imagefolder_and_cars(tiny_world):
    classes = sorted(p.name for p in (tiny_world / "imagefolder" / "train").iterdir())
    assert "car" in classes and "pedestrian" in classes
    assert sorted(p.name for p in (tiny_world / "imagefolder" / "val").iterdir()) == classes
    cars = tiny_world / "cars"
    names = sorted(p.name for p in (cars / "train").iterdir())
    with open(cars / "sample_submission.csv") as f:
        header = next(csv.reader(f))
    assert header == ["ID", *names]
    with open(cars / "test.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and all((cars / row["img_path"]).is_file() for row in rows)
    (first, duplicate), = json.loads((cars / "duplicate_classes.json").read_text())
    assert first in names and duplicate in names


def test_same_seed_gives_byte_identical_output(tmp_path):
    for fmt in ("coco", "talk2car", "kitti"):
        a = write_synthetic(fmt, tmp_path / "a", "tiny", seed=5)
        b = write_synthetic(fmt, tmp_path / "b", "tiny", seed=5)
        files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
        _, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files], shallow=False)
        assert not mismatch and not errors
    c = write_synthetic("coco", tmp_path / "c", "tiny", seed=6)
    assert (c / "annotations" / "instances_train2017.json").read_bytes() != (
        tmp_path / "a" / "coco" / "annotations" / "instances_train2017.json").read_bytes()


def test_bad_arguments_are_clear(tmp_path):
    with pytest.raises(MMDLError, match="unknown synthetic format 'lidar'"):
        write_synthetic("lidar", tmp_path)
    with pytest.raises(MMDLError, match="unknown preset 'huge'"):
        write_synthetic("coco", tmp_path, preset="huge")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MMDLError, match="cannot write"):
        write_synthetic("coco", blocker / "sub")


def test_every_format_is_covered(tiny_world):
    assert sorted(p.name for p in tiny_world.iterdir()) == sorted(FORMATS)
