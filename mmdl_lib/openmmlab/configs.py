"""OpenMMLab configs as data files (chapters 03 and 04): the packages' own, and the book's overrides.

The book ships only overrides (``mmdl_lib/openmmlab/configs/*.py``), each inheriting a config that
mmdet3d or mmsegmentation installs with itself (``_base_ = ['mmdet3d::…']``), as open_clip keeps
model configs as JSON files. :func:`load_config` finds either kind by name; :func:`runnable_here`
makes a config build on this machine without downloading anything.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..errors import MMDLError
from .stack import setup

BOOK_CONFIGS = Path(__file__).parent / "configs"


def load_config(name: str):
    """An mmengine ``Config``: ``"mvxnet_kitti_smoke"`` (the book's) or ``"mmdet3d::mvxnet/…py"`` (a package's)."""
    from mmengine.config import Config

    setup()  # the book's configs inherit packaged ones: the packages must import
    if "::" in name:
        package, relative = name.split("::", 1)
        path = _package_config_root(package) / relative
    else:
        path = BOOK_CONFIGS / f"{name}.py"
    if not path.is_file():
        known = sorted(p.stem for p in BOOK_CONFIGS.glob("*.py"))
        raise MMDLError(f"{path}: no such OpenMMLab config (the book's: {known}; a package's: 'mmdet3d::<path>')")
    return Config.fromfile(str(path))


def _package_config_root(package: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise MMDLError(f"{package} is not installed, so its packaged configs cannot be read")
    return Path(spec.origin).parent / ".mim" / "configs"


def runnable_here(node: Any, cuda: bool | None = None) -> Any:
    """The config ``node`` with nothing that downloads (``pretrained``, ``init_cfg`` of type
    ``Pretrained``) and, without CUDA, ``SyncBN`` as plain ``BN``. Returns a new plain structure."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "pretrained" and isinstance(value, str):
                continue
            if key == "init_cfg" and isinstance(value, dict) and value.get("type") == "Pretrained":
                continue
            out[key] = runnable_here(value, cuda)
        if not cuda and out.get("type") == "SyncBN":
            out["type"] = "BN"
        return out
    if isinstance(node, (list, tuple)):
        return type(node)(runnable_here(v, cuda) for v in node)
    return node


def build_model(config, registry: str = "mmdet3d", init_weights: bool = True) -> torch.nn.Module:
    """Build ``config.model`` through ``registry``'s MODELS (its modules registered first) and apply
    its ``init_cfg`` initialisers (nothing that downloads: :func:`runnable_here` drops those)."""
    from importlib import import_module

    from mmengine.config import ConfigDict

    setup()
    import_module(f"{registry}.utils").register_all_modules(init_default_scope=True)
    models = import_module(f"{registry}.registry").MODELS
    model_cfg = config.model if hasattr(config, "model") else config
    plain = model_cfg.to_dict() if hasattr(model_cfg, "to_dict") else dict(model_cfg)
    model = models.build(ConfigDict(runnable_here(plain)))  # heads read their configs as attributes
    if init_weights:  # the configs' initialisers (e.g. the focal-loss prior on the class bias), as mmengine's Runner does
        with quiet_mmengine():
            model.init_weights()
    return model


@contextmanager
def quiet_mmengine(level: int = logging.WARNING):
    """mmengine logs one line per parameter when it initialises a model (INFO) or builds an
    optimiser over frozen parameters (WARNING): keep what is at least ``level``."""
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)
