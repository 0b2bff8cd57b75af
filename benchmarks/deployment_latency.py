"""Chapter 01's deployment pair: the full profile's teacher image tower against the student (CPU).

    python benchmarks/deployment_latency.py                 # batch 1, 3 timed calls per runtime
    python benchmarks/deployment_latency.py --batch 32 --repeats 5 --json out.json

Builds the full profile's OpenCLIP ViT-B/16 image tower and ConvNeXt-Tiny student at 224 px with
random weights (cost does not depend on them), exports each to ONNX, and times PyTorch eager,
channels-last and onnxruntime per image; then the two fastest again, in turns, for the ratio's
interval. Prints parameters, GFLOPs (every matrix product counted, attention included) and
milliseconds (median and quartiles), and the teacher-over-student ratios with each model in its
fastest runtime. Target: the latency ratio at least the FLOP ratio (≈3.9×).
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
        if name == "latency ratio":
            continue
        runtimes = ", ".join(f"{k.removeprefix('ms_per_image_')} {v:.1f} ms" for k, v in row.items()
                             if k.startswith("ms_per_image_") and not k.startswith("ms_per_image_fastest")
                             and " q" not in k)
        print(f"  {name}: {row['params_M']:.1f} M parameters, {row['GFLOPs_per_image']:.2f} GFLOPs/image; {runtimes}; "
              f"fastest ({row['fastest_runtime']}) in turns: {row['ms_per_image_fastest']:.1f} ms "
              f"[{row['ms_per_image_fastest_q1']:.1f}, {row['ms_per_image_fastest_q3']:.1f}]")
    low, high = ratios["latency_low"], ratios["latency_high"]
    verdict = ("meets" if low >= ratios["flops"] else "misses" if high < ratios["flops"]
               else "cannot be told from")
    print(f"teacher tower / student: {ratios['params']:.2f}× parameters, {ratios['flops']:.2f}× FLOPs, "
          f"{ratios['latency']:.2f}× latency ({ratios['latency_confidence']:.0%} interval {low:.2f}–{high:.2f}×; "
          f"fastest runtime each) — {verdict} the target (latency ratio ≥ FLOP ratio)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "hardware": hardware(), "pair": pair, "ratios": ratios}, f, indent=1)


if __name__ == "__main__":
    main()
