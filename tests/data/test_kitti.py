import numpy as np
import pytest

from mmdl_lib.data.kitti import read_calib, read_label, read_velodyne
from mmdl_lib.errors import DataFormatError

CALIB = """P2: 7.0e+02 0 6.0e+02 4.5e+01 0 7.0e+02 1.7e+02 0 0 0 1 0
R0_rect: 1 0 0 0 1 0 0 0 1
Tr_velo_to_cam: 0 -1 0 0 0 0 -1 -0.08 1 0 0 -0.27
"""


def test_calibration_projects_a_point_by_hand(tmp_path):
    path = tmp_path / "000000.txt"
    path.write_text(CALIB)
    calib = read_calib(path)
    # a LiDAR point 10 m ahead, 1 m left: camera x = -1, y = 0.08 - 0.08... worked out by hand
    uv, depth = calib.velo_to_image(np.array([[10.0, 1.0, 0.0, 0.5]]))
    cam = np.array([-1.0, -0.08, 9.73])
    assert depth[0] == pytest.approx(cam[2])
    assert uv[0, 0] == pytest.approx((700 * cam[0] + 600 * cam[2] + 45) / cam[2])
    assert uv[0, 1] == pytest.approx((700 * cam[1] + 170 * cam[2]) / cam[2])


@pytest.mark.parametrize("text, field", [
    (CALIB.replace("R0_rect: 1 0 0 0 1 0 0 0 1\n", ""), "R0_rect"),
    (CALIB.replace("R0_rect: 1 0 0 0 1 0 0 0 1", "R0_rect: 1 0 0"), "R0_rect"),
    (CALIB.replace("P2: 7.0e+02", "P2: seven"), "P2"),
])
def test_malformed_calibration_names_file_and_field(tmp_path, text, field):
    path = tmp_path / "000001.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=f"000001.txt.*'{field}'"):
        read_calib(path)


def test_label_with_and_without_score(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("Car 0.00 0 -1.57 100 50 200 120 1.5 1.6 3.9 1.0 1.65 20.0 -1.57\n"
                    "Pedestrian 0.10 1 0.3 10 20 30 80 1.7 0.6 0.5 -3.0 1.65 12.0 0.2 0.87\n")
    car, ped = read_label(path)
    assert car.type == "Car" and car.score is None and car.bbox.tolist() == [100, 50, 200, 120]
    assert ped.score == pytest.approx(0.87) and ped.occluded == 1
    path.write_text("Car 0 0 0 1 2 3\n")
    with pytest.raises(DataFormatError, match="line 1: expected 15 or 16 columns"):
        read_label(path)


def test_velodyne_size_checked(tmp_path):
    path = tmp_path / "x.bin"
    np.arange(6, dtype=np.float32).tofile(path)
    with pytest.raises(DataFormatError, match="multiple of 4"):
        read_velodyne(path)
    with pytest.raises(DataFormatError, match="not found"):
        read_velodyne(tmp_path / "missing.bin")
