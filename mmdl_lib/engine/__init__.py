"""The one training engine every stage uses: loop, checkpoints, resume."""

from .checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from .trainer import fit, move_to_device

__all__ = ["fit", "move_to_device", "save_checkpoint", "load_checkpoint", "save_weights", "load_weights"]
