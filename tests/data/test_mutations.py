"""The mutation suite (issue #37): one defect in one file of a copy of the tiny synthetic world, for
every reader.

Each reader declares a :class:`ReaderCase`: how to lay out its clean copy, the files it reads (glob
patterns; the first match is mutated) and ``read``, which reads the copy and returns a comparable
summary. For every (reader, file, applicable mutation of :data:`tests.mutations.MUTATIONS`) the
outcome must be the clean copy's summary, or an :class:`MMDLError` whose message names the mutated
file; any other exception is a raw library error escaping the reader. ``valid`` lists the few
mutations that make another *valid* dataset (an ImageNet image of another size, a frame without
objects), with the reason. A module that declares ``READS`` names its reader entry points, and
:func:`test_every_declared_reader_has_a_case` fails for one that no case covers.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import hashlib
import importlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from mmdl_lib.errors import MMDLError
from tests.mutations import MUTATIONS, Mutation, apply, copy_tree, kind

LIB = Path(__file__).resolve().parents[2] / "mmdl_lib"


@dataclass(frozen=True)
class ReaderCase:
    name: str
    build: Callable[[Path, Path], None]  # (tiny world, empty folder) → the clean copy in that folder
    files: tuple[str, ...]  # glob patterns under the copy: the files the reader reads
    read: Callable[[Path], Any]  # the copy → a summary comparable with ==
    covers: tuple[str, ...]  # "module:name" entries of the modules' READS
    valid: dict[tuple[str, str], str] = field(default_factory=dict)  # (pattern, mutation) → why it is valid data


# --- summaries ----------------------------------------------------------------------------------

def plain(value: Any, root: Path) -> Any:
    """``value`` as nested tuples of builtins: arrays as (shape, dtype, digest), paths relative to ``root``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return ("array", array.shape, str(array.dtype), hashlib.sha1(array.tobytes()).hexdigest())
    if isinstance(value, Image.Image):
        return plain(np.asarray(value), root)
    if isinstance(value, Path):
        return str(value.relative_to(root)) if value.is_relative_to(root) else str(value)
    if isinstance(value, str):
        return value.replace(str(root), "<root>")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(vars(value), root)
    if isinstance(value, dict):
        return tuple((plain(k, root), plain(v, root)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(plain(v, root) for v in value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


@contextlib.contextmanager
def env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def _copy_format(fmt: str) -> Callable[[Path, Path], None]:
    return lambda world, dest: copy_tree(world / fmt, dest / fmt) and None


# --- COCO regions (chapter 01) ------------------------------------------------------------------

def read_coco(root: Path) -> Any:
    from mmdl_lib.data.coco_regions import COCORegionTextDataset

    ds = COCORegionTextDataset(root / "coco", "val", image_size=24, min_window=40)
    return plain((ds.report, ds.regions, ds.captions, [ds.crop(i) for i in range(len(ds))]), root)


# --- Talk2Car (chapter 02) ----------------------------------------------------------------------

def read_talk2car(root: Path) -> Any:
    from mmdl_lib.data.talk2car import load_talk2car_splits, read_objects_sidecar

    splits = load_talk2car_splits(root / "talk2car", (48, 27), 0.25, seed=0)
    parts = [splits.train, splits.val] + ([splits.test] if splits.test is not None else [])
    images = [[part.image_tensor(i) for i in range(len(part.images))] for part in parts]
    return plain(([p.items for p in parts], images, splits.train_idx, splits.holdout_idx,
                  read_objects_sidecar(splits.val)), root)


def build_predictions(world: Path, dest: Path) -> None:
    from mmdl_lib.data.talk2car import Talk2CarDataset, write_predictions

    copy_tree(world / "talk2car", dest / "talk2car")
    val = Talk2CarDataset(dest / "talk2car", "val")
    write_predictions(dest / "predictions.json", val, val.boxes * 0.9 + 0.01)


def read_predictions(root: Path) -> Any:
    from mmdl_lib.data.talk2car import Talk2CarDataset, read_predictions

    return plain(read_predictions(root / "predictions.json", Talk2CarDataset(root / "talk2car", "val")), root)


# --- KITTI (chapters 00 and 03) -----------------------------------------------------------------

def read_kitti(root: Path) -> Any:
    from mmdl_lib.chapters.pseudo_lidar_kd.frames import load_split
    from mmdl_lib.data.kitti import read_depth_maps

    frames = load_split(root / "kitti", "train")
    depth = read_depth_maps(root / "kitti", [f.frame for f in frames], frames[0].size)
    return plain((frames, depth), root)


# --- Cityscapes and the OOD layouts (chapter 04) ------------------------------------------------

def read_cityscapes(root: Path) -> Any:
    from mmdl_lib.data.cityscapes import cityscapes_pairs, read_cityscapes

    pairs = cityscapes_pairs(root / "cityscapes", "val")
    return plain((pairs, [read_cityscapes(p) for p in pairs]), root)


def build_ood(layout: str) -> Callable[[Path, Path], None]:
    """The synthetic Fishyscapes-style set re-laid out as ``layout`` ships."""

    def build(world: Path, dest: Path) -> None:
        source, out = world / "ood", dest / "ood"
        images = sorted((source / "images").glob("*.png"))
        if layout == "fishyscapes":
            copy_tree(source, out)
            return
        for i, image in enumerate(images):
            label = source / "labels" / image.name
            if layout == "road_anomaly":  # jpg frames, labels 0 background, 1 road, 2 anomaly
                stem = f"frame{i:02d}"
                (out / "frames" / f"{stem}.labels").mkdir(parents=True, exist_ok=True)
                Image.open(image).convert("RGB").save(out / "frames" / f"{stem}.jpg", quality=95)
                raw = np.asarray(Image.open(label))
                mapped = np.select([raw == 0, raw == 1], [1, 2], 0).astype(np.uint8)
                Image.fromarray(mapped).save(out / "frames" / f"{stem}.labels" / "labels_semantic.png")
            else:  # SegmentMeIfYouCan: images/validation_NNNN.png + labels_masks/<stem>_labels_semantic.png
                stem = f"validation_{i:04d}"
                (out / "images").mkdir(parents=True, exist_ok=True)
                (out / "labels_masks").mkdir(parents=True, exist_ok=True)
                (out / "images" / f"{stem}.png").write_bytes(image.read_bytes())
                (out / "labels_masks" / f"{stem}_labels_semantic.png").write_bytes(label.read_bytes())
        if layout == "road_anomaly":
            (out / "frame_list.json").write_text(json.dumps([f"frame{i:02d}.jpg" for i in range(len(images))]))

    return build


def read_ood(layout: str) -> Callable[[Path], Any]:
    def read(root: Path) -> Any:
        from mmdl_lib.data.cityscapes import ood_pairs, read_ood

        pairs = ood_pairs(root / "ood", layout)
        return plain((pairs, [read_ood(p, layout) for p in pairs]), root)

    return read


# --- image folders (chapters 02 and 05), Hecto cars (chapter 06) --------------------------------

def read_imagefolder(root: Path) -> Any:
    from mmdl_lib.chapters.token_compression.token_cache import image_split

    subset, classes = image_split(root / "imagefolder", "val", 16, None)
    return plain((classes, subset.dataset.folder.samples, [subset[i] for i in range(len(subset))]), root)


def read_hecto(root: Path) -> Any:
    from mmdl_lib.data.hecto_cars import CarImages, HectoCars

    data = HectoCars.read(root / "cars")
    images = CarImages(data.train_paths + data.test_paths, None, 16, preload=True)
    return plain((data, data.test_answers(), images.images), root)


# --- checkpoints, run records, caches -----------------------------------------------------------

def _model_and_optimizer(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def build_checkpoint(world: Path, dest: Path) -> None:
    from mmdl_lib.engine.checkpoint import save_checkpoint

    model, optimizer = _model_and_optimizer(0)
    for epoch in (1, 2):
        model(torch.ones(4, 3)).square().sum().backward()
        optimizer.step()
        save_checkpoint(dest / "ckpt", epoch, model, optimizer, state={"history": [0.5, 0.25][:epoch]})


def read_checkpoint(root: Path) -> Any:
    from mmdl_lib.engine.checkpoint import load_checkpoint

    model, optimizer = _model_and_optimizer(1)
    state = load_checkpoint(root / "ckpt", model, optimizer)
    return plain((state, model.state_dict(), optimizer.state_dict()["state"]), root)


RECORD = {"seed": 0, "stage": "intro", "profile": "smoke", "created": "2025-01-01T00:00:00+00:00",
          "rehearsal": False, "config": {"epochs": 1}, "metrics": {"accuracy": 0.5},
          "artifacts": {}, "notes": None, "environment": {"python": "3.11"}}


def build_records(world: Path, dest: Path) -> None:
    from mmdl_lib.io import write_json

    write_json(dest / "results" / "intro" / "smoke-20250101T000000Z" / "record.json", RECORD)


def read_records(root: Path) -> Any:
    from mmdl_lib.records import latest_records, read_record

    results = root / "results"
    return plain((read_record(results / "intro" / "smoke-20250101T000000Z" / "record.json"),
                  latest_records(results)), root)


def _pooled_tokens(images: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.avg_pool2d(images, 4)  # (B, 3, 4, 4): a stand-in encoder


def _cached_tokens(world: Path, cache: Path):
    from mmdl_lib.chapters.token_compression.token_cache import cached_tokens

    with env("MMDL_CACHE", str(cache)):
        return cached_tokens(_pooled_tokens, world / "imagefolder", "val", 16, None, {"encoder": "avg-pool"},
                             torch.device("cpu"), batch_size=4)


def cache_case() -> ReaderCase:
    world_of: dict[str, Path] = {}  # the token cache's key holds the images' folder: read the same world

    def build(world: Path, dest: Path) -> None:
        world_of["world"] = world
        _cached_tokens(world, dest / "cache")

    def read(root: Path) -> Any:
        tokens = _cached_tokens(world_of["world"], root / "cache")
        return plain((np.asarray(tokens.tokens), tokens.labels, tokens.classes), root)

    entry = "cache/clip_tokens/*"
    return ReaderCase(
        "token_cache", build, (f"{entry}/tokens.npy", f"{entry}/labels.npy", f"{entry}/tokens.json",
                               f"{entry}/.entry.json"), read,
        ("mmdl_lib.cache:cached_folder", "mmdl_lib.chapters.token_compression.token_cache:cached_tokens"),
        valid={(f"{entry}/.entry.json", "missing"): "an entry without its manifest is one written before "
                                                     "manifests: trusted, as it always was",
               **{(f"{entry}/tokens.npy", m): "a cache entry is trusted once its files have their recorded sizes: "
                  "a same-size change of the tokens is not detected (a checksum would read every token)"
                  for m in ("nan", "inf")}})


# --- the registry -------------------------------------------------------------------------------

T2C = "talk2car/commands"
KITTI = "kitti/training"
CARS_TRAIN = "cars/train/*/*.jpg"
CASES = [
    ReaderCase("coco_regions", _copy_format("coco"),
               ("coco/annotations/instances_val2017.json", "coco/annotations/captions_val2017.json",
                "coco/val2017/*.jpg"), read_coco,
               ("mmdl_lib.data.coco_regions:COCORegionTextDataset",),
               valid={("coco/annotations/captions_val2017.json", "missing"): "captions are optional: the synthetic "
                      "world's colours come from the annotations' attributes"}),
    ReaderCase("talk2car", _copy_format("talk2car"),
               (f"{T2C}/train_commands.json", f"{T2C}/val_commands.json", f"{T2C}/test_commands.json",
                f"{T2C}/val_objects.json", "talk2car/images/img_train_0.jpg", "talk2car/images/img_val_0.jpg"),
               read_talk2car,
               ("mmdl_lib.data.talk2car:Talk2CarDataset", "mmdl_lib.data.talk2car:load_talk2car_splits",
                "mmdl_lib.data.talk2car:read_objects_sidecar"),
               valid={(f"{T2C}/test_commands.json", "missing"): "the test split is optional",
                      (f"{T2C}/val_objects.json", "missing"): "the objects sidecar is the synthetic world's; "
                                                               "the real release has none"}),
    ReaderCase("talk2car_predictions", build_predictions, ("predictions.json",), read_predictions,
               ("mmdl_lib.data.talk2car:read_predictions",)),
    ReaderCase("kitti", _copy_format("kitti"),
               ("kitti/ImageSets/train.txt", f"{KITTI}/calib/000000.txt", f"{KITTI}/label_2/000000.txt",
                f"{KITTI}/velodyne/000000.bin", f"{KITTI}/image_2/000000.png", f"{KITTI}/depth_2/000000.png"),
               read_kitti,
               ("mmdl_lib.data.kitti:read_calib", "mmdl_lib.data.kitti:read_label", "mmdl_lib.data.kitti:read_velodyne",
                "mmdl_lib.data.kitti:read_depth", "mmdl_lib.data.kitti:read_depth_maps",
                "mmdl_lib.chapters.pseudo_lidar_kd.frames:load_frame",
                "mmdl_lib.chapters.pseudo_lidar_kd.frames:load_split"),
               valid={(f"{KITTI}/label_2/000000.txt", "empty"): "a frame without objects has an empty label file",
                      (f"{KITTI}/label_2/000000.txt", "duplicate_line"): "label_2 cannot tell a repeated line from "
                      "a second object in the same place"}),
    ReaderCase("cityscapes", _copy_format("cityscapes"),
               ("cityscapes/leftImg8bit/val/*/*_leftImg8bit.png", "cityscapes/gtFine/val/*/*_gtFine_labelIds.png"),
               read_cityscapes,
               ("mmdl_lib.data.cityscapes:cityscapes_pairs", "mmdl_lib.data.cityscapes:read_cityscapes",
                "mmdl_lib.data.cityscapes:read_labelled")),
    ReaderCase("ood_fishyscapes", build_ood("fishyscapes"), ("ood/images/*.png", "ood/labels/*.png"),
               read_ood("fishyscapes"), ("mmdl_lib.data.cityscapes:ood_pairs", "mmdl_lib.data.cityscapes:read_ood")),
    ReaderCase("ood_smiyc_anomaly", build_ood("smiyc_anomaly"),
               ("ood/images/validation_*.png", "ood/labels_masks/*_labels_semantic.png"), read_ood("smiyc_anomaly"),
               ("mmdl_lib.data.cityscapes:ood_pairs",)),
    ReaderCase("ood_smiyc_obstacle", build_ood("smiyc_obstacle"), ("ood/labels_masks/*_labels_semantic.png",),
               read_ood("smiyc_obstacle"), ("mmdl_lib.data.cityscapes:ood_pairs",)),
    ReaderCase("ood_road_anomaly", build_ood("road_anomaly"),
               ("ood/frame_list.json", "ood/frames/*.jpg", "ood/frames/*.labels/labels_semantic.png"),
               read_ood("road_anomaly"), ("mmdl_lib.data.cityscapes:ood_pairs",)),
    ReaderCase("imagefolder", _copy_format("imagefolder"), ("imagefolder/val/*/*.JPEG",), read_imagefolder,
               ("mmdl_lib.data.imagefolder:ImageFolderTensors",
                "mmdl_lib.chapters.token_compression.token_cache:image_split"),
               valid={("imagefolder/val/*/*.JPEG", "resized"): "an ImageNet-style folder holds images of any size"}),
    ReaderCase("hecto_cars", _copy_format("cars"),
               ("cars/test.csv", "cars/sample_submission.csv", "cars/test_answers.csv", "cars/duplicate_classes.json",
                CARS_TRAIN, "cars/test/*.jpg"), read_hecto,
               ("mmdl_lib.data.hecto_cars:HectoCars", "mmdl_lib.data.hecto_cars:CarImages",
                "mmdl_lib.data.hecto_cars:load_image"),
               valid={(CARS_TRAIN, "resized"): "car photos come in any size", ("cars/test/*.jpg", "resized"): "car "
                      "photos come in any size",
                      (CARS_TRAIN, "missing"): "train/<class>/ is listed, not declared: one photo fewer is a smaller "
                      "valid set",
                      ("cars/test_answers.csv", "missing"): "the answers are the synthetic world's; the real "
                      "competition keeps them",
                      ("cars/duplicate_classes.json", "missing"): "the sidecar is the synthetic world's; without it "
                      "the competition's own pairs apply"}),
    ReaderCase("checkpoint", build_checkpoint,
               ("ckpt/latest.json", "ckpt/epoch_0002/model.safetensors", "ckpt/epoch_0002/optimizer.pt",
                "ckpt/epoch_0002/state.json"), read_checkpoint,
               ("mmdl_lib.engine.checkpoint:load_checkpoint", "mmdl_lib.engine.checkpoint:load_weights")),
    ReaderCase("run_records", build_records, ("results/*/*/record.json",), read_records,
               ("mmdl_lib.records:read_record", "mmdl_lib.records:latest_records")),
    cache_case(),
]


def _params() -> list:
    out = []
    for case in CASES:
        for pattern in case.files:
            for mutation in MUTATIONS:
                if kind(Path(pattern)) in mutation.kinds:
                    out.append(pytest.param(case, pattern, mutation, id=f"{case.name}:{pattern}:{mutation.name}"))
    return out


@pytest.fixture(scope="session")
def clean(tiny_world, tmp_path_factory) -> Callable[[ReaderCase], tuple[Path, Any]]:
    """Each case's clean copy and summary, built on first use."""
    built: dict[str, tuple[Path, Any]] = {}

    def get(case: ReaderCase) -> tuple[Path, Any]:
        if case.name not in built:
            root = tmp_path_factory.mktemp(f"clean_{case.name}")
            case.build(tiny_world, root)
            built[case.name] = (root, case.read(root))
        return built[case.name]

    return get


def _names_the_file(message: str, target: Path, mutation: Mutation) -> bool:
    if target.name in message:
        return True
    # a file of a listed folder gone (or a folder in its place): the folder, its class, is named
    return mutation.name in ("missing", "directory") and target.parent.name in message


@pytest.mark.parametrize("case, pattern, mutation", _params())
def test_a_defect_is_read_as_clean_or_named(clean, tmp_path, case: ReaderCase, pattern: str, mutation: Mutation):
    if mutation.name == "unreadable" and os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not deny root reading the file")
    clean_root, expected = clean(case)
    root = copy_tree(clean_root, tmp_path / "copy")
    target = sorted(root.glob(pattern))[0]
    if not apply(mutation, target):
        pytest.skip(f"{target.name} has nothing {mutation.name!r} applies to")
    try:
        got = case.read(root)
    except MMDLError as e:
        assert _names_the_file(str(e), target, mutation), f"the error does not name {target.name}: {e}"
        return
    except Exception as e:  # noqa: BLE001 — the point of the test: nothing else may escape
        pytest.fail(f"raw {type(e).__name__} escaped the reader: {e}")
    if (pattern, mutation.name) in case.valid:
        return
    assert got == expected, f"{mutation.what} in {target.relative_to(root)} was read silently as other data"


# --- every reader has its catalogue -------------------------------------------------------------

def _declared_reads() -> dict[str, tuple[str, ...]]:
    """``READS`` of every module of the library that declares one (read from the source, not imported)."""
    found = {}
    for path in sorted(LIB.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "READS" for t in node.targets):
                module = ".".join(path.relative_to(LIB.parent).with_suffix("").parts)
                found[module] = tuple(ast.literal_eval(node.value))
    return found


def _must_declare() -> list[str]:
    """Every module of ``mmdl_lib/data`` and every module using its validating helpers reads files."""
    modules = []
    for path in sorted(LIB.rglob("*.py")):
        module = ".".join(path.relative_to(LIB.parent).with_suffix("").parts)
        in_data = path.parent == LIB / "data" and path.stem not in ("__init__", "validation")
        text = path.read_text(encoding="utf-8")
        if in_data or ("data.validation import" in text and path.parent != LIB / "data"):
            modules.append(module)
    return modules


def test_every_reader_module_declares_its_readers():
    declared = _declared_reads()
    assert [m for m in _must_declare() if m not in declared] == []


def test_every_declared_reader_has_a_case():
    covered = {entry for case in CASES for entry in case.covers}
    declared = {f"{module}:{name}" for module, names in _declared_reads().items() for name in names}
    assert sorted(declared - covered) == [], "readers without a mutation catalogue"
    assert sorted(covered - declared) == [], "cases covering readers no module declares"
    for entry in declared:
        module, name = entry.split(":")
        assert hasattr(importlib.import_module(module), name), entry


def test_every_case_reads_its_files(clean):
    """A pattern that matches nothing would make its mutations vacuous."""
    for case in CASES:
        root, _ = clean(case)
        assert [p for p in case.files if not list(root.glob(p))] == [], case.name


def test_an_unreadable_file_is_named_even_as_root(tmp_path, monkeypatch):
    """chmod 000 cannot deny root (CI), so the permission error is raised by hand at each helper."""
    from mmdl_lib.data import validation
    from mmdl_lib.errors import DataFormatError

    path = tmp_path / "calib.json"
    path.write_text("{}")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", denied)
    monkeypatch.setattr(Image, "open", denied)
    for read in (validation.read_text, validation.read_json, validation.open_image, validation.image_header_size):
        with pytest.raises(DataFormatError, match=r"calib.json.*Permission denied"):
            read(path)


def test_a_resized_talk2car_frame_is_named_with_both_sizes(clean, tmp_path):
    """The issue's first case: one frame of another size would normalise every box by the wrong size."""
    from mmdl_lib.data.talk2car import load_talk2car_splits
    from mmdl_lib.errors import DataFormatError

    case = next(c for c in CASES if c.name == "talk2car")
    root = copy_tree(clean(case)[0], tmp_path / "copy")
    image = root / "talk2car" / "images" / "img_val_1.jpg"
    Image.open(image).resize((96, 54)).save(image)
    with pytest.raises(DataFormatError, match=r"img_val_1.jpg \[field 't2c_img'\]: image is 96×54, the training "
                                              r"split's first image \(img_train_0.jpg\) is 192×108"):
        load_talk2car_splits(root / "talk2car", (48, 27), 0.25, seed=0)
