"""Depth map → pseudo-LiDAR cloud for a KITTI-size frame (1242×375), in milliseconds (chapter 03).

    python benchmarks/pseudo_lidar_speed.py             # KITTI's calibration, the seed's settings
    python benchmarks/pseudo_lidar_speed.py --json out.json

Times :func:`mmdl_lib.chapters.pseudo_lidar_kd.pseudo_lidar.depth_to_points` with the rays built once per camera (as
the chapter does): the seed's 10 % subsample with constant intensity, and every pixel. Target:
≤ 10 ms per frame on a 2-core CPU for the seed's settings.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MMDL_PROGRESS", "0")

from mmdl_lib.chapters.pseudo_lidar_kd.pseudo_lidar import PixelRays, depth_to_points
from mmdl_lib.data.kitti import read_calib
from mmdl_lib.env import hardware

# KITTI's own calibration of training frame 000000 (P2 with its fourth column, a real R0_rect)
KITTI_CALIB = """P2: 7.070493e+02 0 6.040814e+02 4.575831e+01 0 7.070493e+02 1.805066e+02 -3.454157e-01 0 0 1 4.981016e-03
R0_rect: 9.999128e-01 1.009263e-02 -8.511932e-03 -1.012729e-02 9.999406e-01 -4.037671e-03 8.470675e-03 4.123522e-03 9.999556e-01
Tr_velo_to_cam: 6.927964e-03 -9.999722e-01 -2.757829e-03 -2.457729e-02 -1.162982e-03 2.749836e-03 -9.999955e-01 -6.127237e-02 9.999753e-01 6.931141e-03 -1.143899e-03 -3.321029e-01
"""


def time_ms(fn, repeats: int) -> float:
    fn()  # warm-up (first call also draws the subsampling permutation)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calib.txt"
        path.write_text(KITTI_CALIB)
        calib = read_calib(path)
    size = (1242, 375)
    depth = np.random.default_rng(0).uniform(2, 70, (size[1], size[0])).astype(np.float32)
    start = time.perf_counter()
    rays = PixelRays.build(calib, size)
    build_ms = (time.perf_counter() - start) * 1000
    rng = np.random.default_rng(0)
    rows = {
        "seed settings (10 % of pixels, intensity 0.5)": time_ms(
            lambda: depth_to_points(depth, rays, keep_ratio=0.1, intensity=0.5, rng=rng), args.repeats),
        "every pixel": time_ms(lambda: depth_to_points(depth, rays), args.repeats),
        "rays for a new camera (once per calibration)": build_ms,
    }
    for name, ms in rows.items():
        print(f"{name:48s} {ms:7.2f} ms")
    result = {"frame": f"{size[0]}×{size[1]}", "milliseconds": rows, "hardware": hardware()}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
