"""Scenes per second of the synthetic world, per format, on this machine.

    python benchmarks/synth_throughput.py                 # tiny preset, every format
    python benchmarks/synth_throughput.py --preset smoke --format coco talk2car

Reports wall time and rendered scenes (images or frames) per second for each format, and the
total; the tiny preset of every format is meant to take under 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MMDL_PROGRESS", "0")

from mmdl_lib.chapters.synthetic_world.summary import summarize
from mmdl_lib.env import hardware
from mmdl_lib.synth import FORMATS, write_synthetic


def scenes(counts: dict[str, int]) -> int:
    """Rendered scenes: Talk2Car writes several commands per image, so count its images."""
    return sum(v for k, v in counts.items() if k.endswith(("images", "frames")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--format", nargs="*", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the table here")
    args = parser.parse_args()
    rows, total = {}, 0.0
    with tempfile.TemporaryDirectory() as out:
        for fmt in args.format:
            started = time.perf_counter()
            root = write_synthetic(fmt, out, args.preset, args.seed)
            seconds = time.perf_counter() - started
            counts = summarize(fmt, root)
            if fmt == "talk2car":
                counts["images"] = len(list((root / "images").glob("*.jpg")))
            n = scenes(counts)
            rows[fmt] = {"scenes": n, "seconds": round(seconds, 3), "scenes_per_second": round(n / seconds, 1)}
            total += seconds
    hw = hardware()
    print(f"preset {args.preset}, seed {args.seed} · {hw['cpu']} ({hw['cpu_count']} cores)")
    print(f"{'format':<12}{'scenes':>8}{'seconds':>10}{'scenes/s':>10}")
    for fmt, row in rows.items():
        print(f"{fmt:<12}{row['scenes']:>8}{row['seconds']:>10.2f}{row['scenes_per_second']:>10.1f}")
    print(f"{'total':<12}{sum(r['scenes'] for r in rows.values()):>8}{total:>10.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"preset": args.preset, "hardware": hw, "formats": rows,
                                               "total_seconds": total}, indent=1))


if __name__ == "__main__":
    main()
