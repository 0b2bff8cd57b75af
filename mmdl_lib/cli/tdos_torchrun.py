"""Chapter 04's multi-GPU training, as the seed's ``dist_train.sh``: TDOS under ``torchrun``.

``torchrun --nproc_per_node 4 -m mmdl_lib.cli.tdos_torchrun --profile full [-p name value …]``:
mmengine's launcher with NCCL on GPUs (gloo on CPUs), the stage's own data, model and training
steps (:mod:`mmdl_lib.chapters.text_ood_segmentation.pipeline`), rank 0 writing the weights.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from mmengine.dist import all_gather_object, barrier

from ..chapters.text_ood_segmentation.pipeline import (TextOODSegConfig, build_segmentor, get_clip, load_sets,
                                                       model_config, pick_ood_concepts, resolve_roots, train)
from ..chapters.text_ood_segmentation.train import launch_distributed
from ..engine.checkpoint import save_weights
from ..distributed import replica_checksum
from ..io import write_json
from ..paths import results_dir
from . import parse_value


def main(argv: list[str] | None = None) -> int:
    """Train TDOS in one process or, under ``torchrun``, in many; rank 0 writes the weights and
    ``distributed.json`` (world size, per-epoch losses, each replica's parameter checksum)."""
    parser = argparse.ArgumentParser(prog="torchrun --nproc_per_node N -m mmdl_lib.cli.tdos_torchrun")
    parser.add_argument("--profile", default="full")
    parser.add_argument("--rehearse", action="store_true")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument("--out", type=Path, default=None, help="default: results/text_ood_segmentation/distributed")
    args = parser.parse_args(argv)
    cfg = TextOODSegConfig.from_profile(args.profile, rehearse=args.rehearse or None,
                                        **{name: parse_value(value) for name, value in args.parameter})
    out = args.out or results_dir() / "text_ood_segmentation" / "distributed"
    rank, world = launch_distributed()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available()
                          else "cpu")
    for turn in range(2):  # rank 0 first: it builds the data, the CLIP and the concepts the others read cached
        if (rank == 0) == (turn == 0):
            roots = resolve_roots(cfg)
            sets, clip, concepts = load_sets(cfg, roots), get_clip(cfg), pick_ood_concepts(cfg)
        barrier()
    model = build_segmentor(cfg, model_config(cfg, clip, concepts), device)
    history = train(cfg, model, sets["train"], device, checkpoint_dir=out / "checkpoints")
    checksums = all_gather_object(replica_checksum(model))
    if rank == 0:
        weights = save_weights(model, out / "tdos.safetensors")
        write_json(out / "distributed.json", {"world_size": world, "history": history,
                                              "replica_checksums": checksums, "weights": str(weights),
                                              "config": cfg.to_dict()})
        print(f"weights: {weights} (load them with -p load_from {weights})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
