"""Cityscapes and OOD benchmark readers (mmdl_lib/data/cityscapes.py): the synthetic world's files,
hand-made layouts of the real releases, and malformed ones."""

import json

import numpy as np
import pytest
from PIL import Image

from mmdl_lib.data.cityscapes import (CITYSCAPES_CLASSES, LabelledImage, cityscapes_pairs, ood_pairs, read_cityscapes,
                                      read_ood, to_train_ids)
from mmdl_lib.errors import DataFormatError


def test_the_official_label_table():
    assert len(CITYSCAPES_CLASSES) == 19 and CITYSCAPES_CLASSES[0] == "road" and CITYSCAPES_CLASSES[-1] == "bicycle"
    # road 7 → 0, car 26 → 13, bicycle 33 → 18, unlabeled 0 / parking 9 / caravan 29 → ignore
    ids = np.array([[7, 26, 33], [0, 9, 29]])
    assert to_train_ids(ids).tolist() == [[0, 13, 18], [255, 255, 255]]
    with pytest.raises(DataFormatError, match=r"x.png: values \[34, 200\] are not Cityscapes label ids"):
        to_train_ids(np.array([7, 34, 200]), "x.png")


def test_the_synthetic_cityscapes_split_reads(tiny_world):
    pairs = cityscapes_pairs(tiny_world / "cityscapes", "val")
    image, train_ids = read_cityscapes(pairs[0])
    assert image.shape[2] == 3 and train_ids.shape == image.shape[:2]
    assert set(np.unique(train_ids)) <= set(range(19)) | {255} and (train_ids == 0).any()  # road is everywhere


def test_cityscapes_errors_name_the_file(tiny_world, tmp_path):
    with pytest.raises(DataFormatError, match="Cityscapes images folder not found"):
        cityscapes_pairs(tmp_path, "train")
    image_dir = tmp_path / "leftImg8bit" / "val" / "lindau"
    image_dir.mkdir(parents=True)
    Image.new("RGB", (8, 4)).save(image_dir / "lindau_000000_000019_leftImg8bit.png")
    with pytest.raises(DataFormatError, match="lindau_000000_000019_gtFine_labelIds.png: label ids of"):
        cityscapes_pairs(tmp_path, "val")
    label_dir = tmp_path / "gtFine" / "val" / "lindau"
    label_dir.mkdir(parents=True)
    Image.fromarray(np.full((2, 8), 7, np.uint8)).save(label_dir / "lindau_000000_000019_gtFine_labelIds.png")
    with pytest.raises(DataFormatError, match=r"labelIds.png \[field 'size'\]: label map is 8×2, "
                                              r"its image lindau_000000_000019_leftImg8bit.png is 8×4"):
        read_cityscapes(cityscapes_pairs(tmp_path, "val")[0])


def test_the_synthetic_ood_set_reads_as_fishyscapes(tiny_world):
    pairs = ood_pairs(tiny_world / "ood", "fishyscapes")
    image, labels = read_ood(pairs[0], "fishyscapes")
    assert labels.shape == image.shape[:2] and set(np.unique(labels)) <= {0, 1, 255} and (labels == 1).any()


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_road_anomaly_and_smiyc_layouts(tmp_path):
    road = tmp_path / "RoadAnomaly_jpg"
    _write(road / "frames" / "animals01.jpg", np.zeros((4, 6, 3), np.uint8))
    _write(road / "frames" / "animals01.labels" / "labels_semantic.png", np.array([[0, 1, 2, 2, 1, 0]] * 4, np.uint8))
    (road / "frame_list.json").write_text(json.dumps(["animals01.jpg"]))
    _, labels = read_ood(ood_pairs(road, "road_anomaly")[0], "road_anomaly")
    assert labels[0].tolist() == [0, 0, 1, 1, 0, 0]  # background and road are in-distribution, 2 the anomaly

    smiyc = tmp_path / "dataset_AnomalyTrack"
    _write(smiyc / "images" / "validation_0000.jpg", np.zeros((4, 6, 3), np.uint8))
    _write(smiyc / "images" / "test_0000.jpg", np.zeros((4, 6, 3), np.uint8))  # hidden labels: not listed
    _write(smiyc / "labels_masks" / "validation_0000_labels_semantic.png", np.array([[0, 1, 255, 0, 0, 0]] * 4, np.uint8))
    pairs = ood_pairs(smiyc, "smiyc_anomaly")
    assert [p.image.name for p in pairs] == ["validation_0000.jpg"]
    assert read_ood(pairs[0], "smiyc_anomaly")[1][0].tolist() == [0, 1, 255, 0, 0, 0]


def test_ood_errors_name_the_file(tmp_path):
    with pytest.raises(DataFormatError, match="fishyscapes dataset folder not found"):
        ood_pairs(tmp_path / "missing", "fishyscapes")
    with pytest.raises(DataFormatError, match=r"no image matches images/\*.png"):
        ood_pairs(tmp_path, "fishyscapes")
    _write(tmp_path / "images" / "a.png", np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(DataFormatError, match=r"labels/a.png: label of a.png not found"):
        ood_pairs(tmp_path, "fishyscapes")
    _write(tmp_path / "labels" / "a.png", np.array([[0, 1, 2, 0, 0, 0]] * 4, np.uint8))
    with pytest.raises(DataFormatError, match=r"labels/a.png: label values \[2\] are not defined by the fishyscapes"):
        read_ood(ood_pairs(tmp_path, "fishyscapes")[0], "fishyscapes")
    with pytest.raises(ValueError, match="unknown OOD layout 'lostandfound'"):
        ood_pairs(tmp_path, "lostandfound")
    rgb_label = LabelledImage(tmp_path / "images" / "a.png", tmp_path / "images" / "a.png")
    with pytest.raises(DataFormatError, match=r"a label map has one channel"):
        read_ood(rgb_label, "fishyscapes")
