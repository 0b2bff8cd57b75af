"""Chapter 01's deployment pair: the full profile's teacher image tower against the student (CPU).

    python benchmarks/deployment_latency.py                 # batch 1, 3 timed calls per runtime
    python benchmarks/deployment_latency.py --batch 32 --repeats 5 --json out.json

Builds the full profile's OpenCLIP ViT-B/16 image tower and ConvNeXt-Tiny student at 224 px with
random weights (cost does not depend on them), exports each to ONNX, and times PyTorch eager,
channels-last and onnxruntime per image. Prints parameters, GFLOPs and milliseconds, and the
teacher-over-student ratios with each model in its fastest runtime. Target: the latency ratio at
least the FLOP ratio (≈2.5×).
"""

from __future__ import annotations

import argparse
import json
import os

import torch

os.environ.setdefault("MMDL_PROGRESS", "0")

from mmdl_lib.chapters.clip_kd.pipeline import deployment_pair
from mmdl_lib.env import hardware
from mmdl_lib.metrics.cost import teacher_student_ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    pair = deployment_pair(repeats=args.repeats, batch=args.batch)
    ratios = teacher_student_ratios(pair)
    print(f"batch {args.batch}, {torch.get_num_threads()} threads, {hardware().get('cpu', 'CPU')}")
    for name, row in pair.items():
        runtimes = ", ".join(f"{k.removeprefix('ms_per_image_')} {v:.1f} ms" for k, v in row.items()
                             if k.startswith("ms_per_image_") and k != "ms_per_image_fastest")
        print(f"  {name}: {row['params_M']:.1f} M parameters, {row['GFLOPs_per_image']:.2f} GFLOPs/image; {runtimes}")
    verdict = "meets" if ratios["latency"] >= ratios["flops"] else "misses"
    print(f"teacher tower / student: {ratios['params']:.2f}× parameters, {ratios['flops']:.2f}× FLOPs, "
          f"{ratios['latency']:.2f}× latency (fastest runtime each) — {verdict} the target (latency ratio ≥ FLOP ratio)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "hardware": hardware(), "pair": pair, "ratios": ratios}, f, indent=1)


if __name__ == "__main__":
    main()
