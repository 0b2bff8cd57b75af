"""COCORegionTextDataset on real-format edge cases and on the synthetic world."""

import json

import numpy as np
import pytest
from PIL import Image

from mmdl_lib.data.coco_regions import COCORegionTextDataset, color_from_captions, region_caption
from mmdl_lib.errors import DataFormatError


def _coco(tmp_path, annotations, captions=None, images=None):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "val2017").mkdir()
    images = images or [{"id": 1, "file_name": "000000000001.jpg", "width": 200, "height": 100},
                        {"id": 2, "file_name": "000000000002.jpg", "width": 200, "height": 100}]
    for im in images:
        Image.fromarray(np.full((100, 200, 3), 120, np.uint8)).save(tmp_path / "val2017" / im["file_name"])
    cats = [{"id": 1, "name": "person", "supercategory": "person"}, {"id": 3, "name": "car", "supercategory": "vehicle"}]
    (tmp_path / "annotations" / "instances_val2017.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": cats}))
    if captions is not None:
        (tmp_path / "annotations" / "captions_val2017.json").write_text(json.dumps({"annotations": captions}))
    return tmp_path


def _ann(i, image_id, cat, bbox, **extra):
    return {"id": i, "image_id": image_id, "category_id": cat, "bbox": bbox, "area": bbox[2] * bbox[3],
            "iscrowd": 0, **extra}


def test_crowd_and_zero_area_are_skipped_and_reported(tmp_path):
    root = _coco(tmp_path, [
        _ann(1, 1, 3, [10, 10, 50, 40]),
        _ann(2, 1, 1, [0, 0, 100, 50], iscrowd=1),
        _ann(3, 1, 1, [5, 5, 0, 0]),
        _ann(4, 2, 1, [20, 20, 10, 30]),
    ], captions=[{"image_id": 1, "caption": "A red car parked on a street."}])
    ds = COCORegionTextDataset(root, "val", image_size=32)
    assert len(ds) == 2
    assert ds.report.skipped["crowd"] == 1 and ds.report.skipped["too small or zero-area box"] == 1
    # colour taken from the captions (one car, one colour word before "car"); image 2 has no captions
    assert [r.caption for r in ds.regions] == ["a large red car", "a small person"]
    assert ds.report.skipped["colour unknown: image without captions"] == 1
    item = ds[0]
    assert item["image"].shape == (3, 32, 32) and 0 <= item["image"].min() and item["image"].max() <= 1


def test_missing_image_names_the_file(tmp_path):
    root = _coco(tmp_path, [_ann(1, 1, 3, [10, 10, 50, 40])])
    (root / "val2017" / "000000000001.jpg").unlink()
    with pytest.raises(DataFormatError, match="000000000001.jpg.*image not found"):
        COCORegionTextDataset(root, "val")


def test_malformed_annotations_are_reported(tmp_path):
    root = _coco(tmp_path, [_ann(1, 1, 7, [10, 10, 50, 40])])
    with pytest.raises(DataFormatError, match="instances_val2017.json.*'category_id'"):
        COCORegionTextDataset(root, "val")
    (root / "annotations" / "instances_val2017.json").write_text('{"images": [')
    with pytest.raises(DataFormatError, match="malformed JSON"):
        COCORegionTextDataset(root, "val")


def test_empty_split_is_an_error(tmp_path):
    root = _coco(tmp_path, [_ann(1, 1, 3, [0, 0, 100, 50], iscrowd=1)])
    with pytest.raises(DataFormatError, match="no usable regions in split 'val'"):
        COCORegionTextDataset(root, "val")


def test_caption_helpers():
    assert region_caption("car", True, "red") == "a small red car"
    assert region_caption("person", False, "blue") == "a large person in blue"
    assert color_from_captions(["Two blue cars and a red bus"], "car") == "blue"
    assert color_from_captions(["a red car", "a white car"], "car") is None


def test_reads_the_synthetic_world(tiny_world):
    ds = COCORegionTextDataset(tiny_world / "coco", "train", image_size=48, min_window=40, preload=True)
    assert len(ds) > 5 and ds.small.any()
    assert all(any(c in r.caption for c in ("red", "blue", "green", "yellow", "white", "black", "silver"))
               for r in ds.regions)


_IMAGES = [{"id": 1, "file_name": "000000000001.jpg", "width": 200, "height": 100},
           {"id": 2, "file_name": "000000000002.jpg", "width": 200, "height": 100}]
MALFORMED = [  # (what is wrong, annotations, images, what the error must name)
    ("negative width", [_ann(1, 1, 3, [10, 10, -50, 40])], None, r"\[field 'bbox'\]: annotation 1: negative size"),
    ("NaN in a box", [_ann(1, 1, 3, [10, float("nan"), 50, 40])], None, r"bbox of annotation 1.*finite"),
    ("infinite box", [_ann(1, 1, 3, [10, 10, float("inf"), 40])], None, r"bbox of annotation 1.*finite"),
    ("box outside the image", [_ann(1, 1, 3, [500, 10, 50, 40])], None, r"box \[500, 10, 50, 40\] lies mostly outside"),
    ("three numbers", [_ann(1, 1, 3, [10, 10, 50, 40]) | {"bbox": [10, 10, 50]}], None, r"\[field 'bbox'\]: annotation 1: expected \[x, y, w, h\]"),
    ("box of strings", [_ann(1, 1, 3, [10, 10, 50, 40]) | {"bbox": ["10", 10, 50, 40]}], None, "expected a number"),
    ("duplicate image id", [_ann(1, 1, 3, [10, 10, 50, 40])], [_IMAGES[0], {**_IMAGES[1], "id": 1}],
     r"\[field 'images.id'\]: 1 appears more than once"),
    ("duplicate annotation id", [_ann(1, 1, 3, [10, 10, 50, 40]), _ann(1, 2, 3, [10, 10, 50, 40])], None,
     r"\[field 'annotations.id'\]: 1 appears"),
    ("zero image width", [_ann(1, 1, 3, [10, 10, 50, 40])], [{**_IMAGES[0], "width": 0}, _IMAGES[1]],
     r"\[field 'width'\]: image 1: width must be a positive integer"),
    ("missing image id", [_ann(1, 7, 3, [10, 10, 50, 40])], None, r"\[field 'image_id'\]: annotation 1 points at"),
    ("unknown category", [_ann(1, 1, 99, [10, 10, 50, 40])], None, r"\[field 'category_id'\]"),
    ("NaN area", [_ann(1, 1, 3, [10, 10, 50, 40]) | {"area": float("nan")}], None, r"area of annotation 1"),
    ("file name null", [_ann(1, 1, 3, [10, 10, 50, 40])], [{**_IMAGES[0], "file_name": None}, _IMAGES[1]],
     r"\[field 'file_name'\]"),
]


@pytest.mark.parametrize("what, annotations, images, message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_annotation_names_the_file_and_the_field(tmp_path, what, annotations, images, message):
    if images is not None:  # _coco writes image files for every entry: give broken entries a valid name
        (tmp_path / "val2017").mkdir()
        for im in _IMAGES:
            Image.fromarray(np.full((100, 200, 3), 120, np.uint8)).save(tmp_path / "val2017" / im["file_name"])
        (tmp_path / "annotations").mkdir()
        cats = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]
        (tmp_path / "annotations" / "instances_val2017.json").write_text(
            json.dumps({"images": images, "annotations": annotations, "categories": cats}))
        root = tmp_path
    else:
        root = _coco(tmp_path, annotations)
    with pytest.raises(DataFormatError, match=f"instances_val2017.json.*{message}"):
        COCORegionTextDataset(root, "val", image_size=32)


def test_an_image_whose_size_differs_from_the_json_or_that_is_truncated_is_named(tmp_path):
    root = _coco(tmp_path, [_ann(1, 1, 3, [10, 10, 50, 40])])
    Image.fromarray(np.zeros((50, 80, 3), np.uint8)).save(root / "val2017" / "000000000001.jpg")
    with pytest.raises(DataFormatError, match="000000000001.jpg.*image is 80×50, the annotation says 200×100"):
        COCORegionTextDataset(root, "val", image_size=32, preload=True)
    Image.fromarray(np.zeros((100, 200, 3), np.uint8)).save(root / "val2017" / "000000000001.jpg")
    data = (root / "val2017" / "000000000001.jpg").read_bytes()
    (root / "val2017" / "000000000001.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(DataFormatError, match="000000000001.jpg.*unreadable image"):
        COCORegionTextDataset(root, "val", image_size=32, preload=True)


def test_a_small_overhang_is_kept_and_counted(tmp_path):
    ds = COCORegionTextDataset(_coco(tmp_path, [_ann(1, 1, 3, [170, 10, 50, 40])]), "val", image_size=32)
    assert len(ds) == 1 and ds.report.overhanging == 1



COCO_DEFECTS = [  # an edit of a copy of the synthetic COCO set, and what the error names
    ("negative width", lambda d: d["annotations"][0]["bbox"].__setitem__(2, -12.0), "negative size"),
    ("NaN box", lambda d: d["annotations"][0]["bbox"].__setitem__(1, float("nan")), "bbox of annotation"),
    ("infinite box", lambda d: d["annotations"][0]["bbox"].__setitem__(3, float("inf")), "bbox of annotation"),
    ("box off the image", lambda d: d["annotations"][0]["bbox"].__setitem__(0, 4000.0), "lies mostly outside"),
    ("box of three", lambda d: d["annotations"][0]["bbox"].pop(), "expected \\[x, y, w, h\\]"),
    ("string in a box", lambda d: d["annotations"][0]["bbox"].__setitem__(0, "89"), "expected a number"),
    ("repeated image id", lambda d: d["images"][1].update(id=d["images"][0]["id"]), "images.id"),
    ("repeated annotation id", lambda d: d["annotations"][1].update(id=d["annotations"][0]["id"]), "annotations.id"),
    ("negative image height", lambda d: d["images"][0].update(height=-120), "field 'height'"),
    ("image size a string", lambda d: d["images"][0].update(width="160"), "field 'width'"),
    ("unknown image", lambda d: d["annotations"][0].update(image_id=-5), "field 'image_id'"),
    ("unknown category", lambda d: d["annotations"][0].update(category_id=999), "field 'category_id'"),
    ("NaN area", lambda d: d["annotations"][0].update(area=float("nan")), "area of annotation"),
    ("no images list", lambda d: d.pop("images"), "field 'images'"),
]


@pytest.mark.parametrize("what, edit, message", COCO_DEFECTS, ids=[d[0] for d in COCO_DEFECTS])
def test_a_defect_in_a_copy_of_the_synthetic_set_is_named(tiny_world, tmp_path, what, edit, message):
    import shutil

    root = shutil.copytree(tiny_world / "coco", tmp_path / "coco")
    path = root / "annotations" / "instances_train2017.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=f"instances_train2017.json.*{message}"):
        COCORegionTextDataset(root, "train", image_size=32)


def test_augmentation_repeats_under_the_same_torch_seed(tiny_world):
    import torch

    from mmdl_lib.data.coco_regions import get_augmented_transform

    dataset = COCORegionTextDataset(tiny_world / "coco", "train", image_size=32, min_window=24,
                                    transform=get_augmented_transform(32))

    def draw(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        return [dataset[i % len(dataset)]["image"] for i in range(6)]

    first, again, other = draw(0), draw(0), draw(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
