"""OpenMMLab (mmengine, mmcv, mmdet, mmdet3d, mmsegmentation) for chapters 03 and 04.

Importing this package imports no OpenMMLab code; :func:`setup` does what this machine needs
(:mod:`.stack`), :func:`load_config` / :func:`build_model` build models from configs kept as data
files (:mod:`.configs`), and :func:`load_openmmlab_checkpoint` loads released weights only as
safely as the user allows (:mod:`.checkpoints`).
"""

from .checkpoints import load_openmmlab_checkpoint, read_openmmlab_checkpoint
from .configs import build_model, load_config, runnable_here
from .stack import op_status, setup

__all__ = ["setup", "op_status", "load_config", "build_model", "runnable_here",
           "load_openmmlab_checkpoint", "read_openmmlab_checkpoint"]
