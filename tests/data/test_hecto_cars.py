import csv
import json
import shutil

import numpy as np
import pytest

from mmdl_lib.data.hecto_cars import HECTO_DUPLICATE_PAIRS, CarImages, HectoCars, stratified_fold, write_submission
from mmdl_lib.errors import DataFormatError
from mmdl_lib.synth import write_synthetic


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return write_synthetic("cars", tmp_path_factory.mktemp("cars"), preset="tiny", seed=0)


@pytest.fixture
def copy(world, tmp_path):
    return shutil.copytree(world, tmp_path / "cars")


def test_reads_the_layout_with_its_duplicate_pair_and_answers(world):
    data = HectoCars.read(world)
    assert len(data.classes) == 5 and len(data.train_paths) == 10 and len(data.test_ids) == 4
    assert sorted(data.submission_columns) == data.classes
    assert data.duplicate_pairs == [tuple(p) for p in json.loads((world / "duplicate_classes.json").read_text())]
    a, b = data.duplicate_index_pairs()[0]
    assert data.classes[a] != data.classes[b]
    answers = data.test_answers()
    assert answers.shape == (4,) and answers.max() < 5
    images = CarImages(data.test_paths, answers, 32, augment=True)
    item = images[0]
    assert item["image"].shape == (3, 32, 32) and 0 <= item["image"].min() and item["image"].max() <= 1
    view = images.image_view()
    assert len(view) == 4 and len(list(view)) == 4 and view[-1].shape == (3, 32, 32)


def test_real_duplicate_pairs_apply_without_a_sidecar(copy):
    (copy / "duplicate_classes.json").unlink()
    real = HECTO_DUPLICATE_PAIRS[3]
    olds = HectoCars.read(copy).classes[-2:]
    for old, name in zip(olds, real):  # rename two class folders and their submission columns to a real pair
        (copy / "train" / old).rename(copy / "train" / name)
        path = copy / "sample_submission.csv"
        path.write_text(path.read_text(encoding="utf-8").replace(old, name, 1), encoding="utf-8")
    assert HectoCars.read(copy).duplicate_pairs == [real]


def test_stratified_fold_keeps_every_class_in_validation():
    labels = np.repeat(np.arange(6), 10)
    train, val = stratified_fold(labels, 5, 0, seed=0)
    assert len(val) == 12 and set(labels[val]) == set(range(6)) and not set(train) & set(val)
    with pytest.raises(ValueError, match="fold 5"):
        stratified_fold(labels, 5, 5, seed=0)


@pytest.mark.parametrize("damage, match", [
    (lambda root: shutil.rmtree(root / "train"), "training folder not found"),
    (lambda root: (root / "test.csv").write_text("id,path\nA,b\n"), "header"),
    (lambda root: (root / "test.csv").write_text("ID,img_path\n"), "no rows"),
    (lambda root: (root / "test.csv").write_text("ID,img_path\nTEST_9,./test/missing.jpg\n"), "not found"),
    (lambda root: (root / "sample_submission.csv").write_text("ID,Not_A_Class\nTEST_00000,1\n"), "class columns"),
    (lambda root: (root / "duplicate_classes.json").write_text('[["a", "b"]]'), "not a pair of class folders"),
])
def test_malformed_layouts_name_the_file(copy, damage, match):
    damage(copy)
    with pytest.raises(DataFormatError, match=match):
        HectoCars.read(copy)


def test_unreadable_image_is_named(copy):
    data = HectoCars.read(copy)
    data.test_paths[0].write_bytes(b"not a jpeg")
    with pytest.raises(DataFormatError, match="TEST_00000.jpg: not an image"):
        CarImages(data.test_paths, None, 32)[0]


def test_submission_has_the_sample_columns_and_rows_summing_to_one(world, tmp_path):
    data = HectoCars.read(world)
    probs = np.random.default_rng(0).random((len(data.test_ids), len(data.classes))) * 3
    path = write_submission(tmp_path / "submission.csv", probs, data)
    rows = list(csv.reader(path.open(encoding="utf-8")))
    sample = list(csv.reader((world / "sample_submission.csv").open(encoding="utf-8")))
    assert rows[0] == sample[0] and [r[0] for r in rows[1:]] == [r[0] for r in sample[1:]]
    assert np.allclose(np.array(rows[1:])[:, 1:].astype(float).sum(1), 1.0, atol=1e-6)
    column = rows[0].index(data.classes[0])
    assert float(rows[1][column]) == pytest.approx(probs[0, 0] / probs[0].sum(), abs=1e-7)
    with pytest.raises(ValueError, match="shape"):
        write_submission(tmp_path / "bad.csv", probs[:, :2], data)


def test_a_split_with_more_folds_than_images_per_class_names_n_folds():
    with pytest.raises(ValueError, match="n_folds 5: .* the largest has 4"):
        stratified_fold(np.repeat(np.arange(3), 4), 5, 0, seed=0)
