"""Depth → pseudo-LiDAR back-projection (chapter 03) against the calibration's own projection."""

import numpy as np
import pytest

from mmdl_lib.chapters.pseudo_lidar_kd.pseudo_lidar import (PixelRays, depth_to_points, estimate_depth_scale,
                                                            image_fov_mask, lidar_depth_pairs, write_velodyne)
from mmdl_lib.data.kitti import read_calib, read_velodyne
from mmdl_lib.errors import DataFormatError, MMDLError


@pytest.fixture(scope="module")
def calib(tiny_world):
    return read_calib(tiny_world / "kitti" / "training" / "calib" / "000000.txt")


def real_kitti_calib(tmp_path):
    """KITTI's own calibration of training frame 000000 (P2 with a non-zero fourth column)."""
    text = ("P0: 7.070493e+02 0 6.040814e+02 0 0 7.070493e+02 1.805066e+02 0 0 0 1 0\n"
            "P1: 7.070493e+02 0 6.040814e+02 -3.797842e+02 0 7.070493e+02 1.805066e+02 0 0 0 1 0\n"
            "P2: 7.070493e+02 0 6.040814e+02 4.575831e+01 0 7.070493e+02 1.805066e+02 -3.454157e-01 0 0 1 4.981016e-03\n"
            "P3: 7.070493e+02 0 6.040814e+02 -3.341081e+02 0 7.070493e+02 1.805066e+02 2.330660e+00 0 0 1 3.201153e-03\n"
            "R0_rect: 9.999128e-01 1.009263e-02 -8.511932e-03 -1.012729e-02 9.999406e-01 -4.037671e-03 "
            "8.470675e-03 4.123522e-03 9.999556e-01\n"
            "Tr_velo_to_cam: 6.927964e-03 -9.999722e-01 -2.757829e-03 -2.457729e-02 -1.162982e-03 2.749836e-03 "
            "-9.999955e-01 -6.127237e-02 9.999753e-01 6.931141e-03 -1.143899e-03 -3.321029e-01\n"
            "Tr_imu_to_velo: 9.999976e-01 7.553071e-04 -2.035826e-03 -8.086759e-01 -7.854027e-04 9.998898e-01 "
            "-1.482298e-02 3.195559e-01 2.024406e-03 1.482454e-02 9.998881e-01 -7.997231e-01\n")
    path = tmp_path / "000000.txt"
    path.write_text(text)
    return read_calib(path)


@pytest.mark.parametrize("which", ["synthetic", "kitti"])
def test_back_projection_round_trips_to_the_pixels_and_depths(calib, tmp_path, which):
    cal = calib if which == "synthetic" else real_kitti_calib(tmp_path)
    width, height = (310, 94) if which == "synthetic" else (1242, 375)
    rng = np.random.default_rng(0)
    depth = rng.uniform(2, 70, (height, width)).astype(np.float32)
    depth[0, :5] = 0  # no depth: no point
    points = depth_to_points(depth, PixelRays.build(cal, (width, height)))
    assert points.shape == (height * width - 5, 4) and points.dtype == np.float32
    uv, z = cal.velo_to_image(points)
    v, u = np.divmod(np.flatnonzero(depth.reshape(-1) > 0), width)
    assert np.abs(uv - np.stack([u, v], axis=1)).max() < 0.5
    assert np.abs(z - depth.reshape(-1)[depth.reshape(-1) > 0]).max() < 1e-3 * 70


def test_the_seed_fixes_scale_subsample_and_intensity(calib):
    depth = np.full((94, 310), 10.0, dtype=np.float32)
    rays = PixelRays.build(calib, (310, 94))
    full = depth_to_points(depth, rays)
    scaled = depth_to_points(depth, rays, scale=8.0, keep_ratio=0.1, intensity=0.5, rng=np.random.default_rng(1))
    assert len(scaled) == pytest.approx(0.1 * len(full), rel=0.01)
    assert np.all(scaled[:, 3] == 0.5)
    assert np.median(calib.velo_to_image(scaled)[1]) == pytest.approx(80.0, rel=1e-4)  # depth × 8
    far = depth_to_points(depth * 9, rays, max_depth=80.0)
    assert len(far) == 0  # 90 m is beyond max_depth
    with pytest.raises(MMDLError, match="does not match"):
        depth_to_points(depth[:, :100], rays)


def test_the_scale_is_recovered_from_lidar(tiny_world):
    root = tiny_world / "kitti" / "training"
    calib = read_calib(root / "calib" / "000000.txt")
    scan = read_velodyne(root / "velodyne" / "000000.bin")
    uv, z = calib.velo_to_image(scan)
    shrunk = np.zeros((94, 310), dtype=np.float32)  # a depth network whose output is 1/8 of the truth
    inside = image_fov_mask(scan, calib, (310, 94))
    shrunk[uv[inside, 1].astype(int), uv[inside, 0].astype(int)] = z[inside] / 8
    assert estimate_depth_scale([lidar_depth_pairs(shrunk, scan, calib)]) == pytest.approx(8.0, rel=0.02)
    with pytest.raises(MMDLError, match="cannot estimate"):
        estimate_depth_scale([lidar_depth_pairs(np.zeros_like(shrunk), scan, calib)])


def test_pseudo_lidar_is_written_as_a_velodyne_scan(tmp_path):
    points = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    path = write_velodyne(tmp_path / "velodyne" / "000007.bin", points)
    assert np.array_equal(read_velodyne(path), points)
    assert not list(path.parent.glob(".*partial"))
    with pytest.raises(DataFormatError, match="N×4"):
        write_velodyne(tmp_path / "bad.bin", points[:, :3])


def test_clouds_of_several_frames_match_one_by_one_and_are_written(calib, tmp_path):
    from mmdl_lib.chapters.pseudo_lidar_kd.pseudo_lidar import clouds_from_depths

    depths = np.random.default_rng(2).uniform(2, 60, (3, 94, 310)).astype(np.float32)
    paths = [tmp_path / f"{i:06d}.bin" for i in range(3)]
    clouds = clouds_from_depths(depths, [calib] * 3, [(310, 94)] * 3, paths=paths)
    rays = PixelRays.build(calib, (310, 94))
    for depth, cloud, path in zip(depths, clouds, paths):
        assert np.array_equal(cloud, depth_to_points(depth, rays))
        assert np.array_equal(read_velodyne(path), cloud)
