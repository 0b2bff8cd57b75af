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
    with pytest.raises(DataFormatError, match="multiple of 16 bytes"):
        read_velodyne(path)
    with pytest.raises(DataFormatError, match="not found"):
        read_velodyne(tmp_path / "missing.bin")


# ------------------------------------------------------------------ malformed copies of a real-format frame

import shutil  # noqa: E402

from PIL import Image  # noqa: E402

from mmdl_lib.data.kitti import read_depth

FRAME = "000000"


@pytest.fixture
def frame(tiny_world, tmp_path):
    """A writable copy of one synthetic KITTI training frame (calib, label, velodyne, depth)."""
    root = tmp_path / "training"
    for part, suffix in (("calib", "txt"), ("label_2", "txt"), ("velodyne", "bin"), ("depth_2", "png")):
        (root / part).mkdir(parents=True)
        shutil.copy(tiny_world / "kitti" / "training" / part / f"{FRAME}.{suffix}", root / part)
    return root


def _edit_line(path, index, column, value):
    lines = path.read_text().splitlines()
    cols = lines[index].split()
    cols[column] = value
    lines[index] = " ".join(cols)
    path.write_text("\n".join(lines) + "\n")


LABEL_DEFECTS = [  # (line, column, value, what the error must name)
    (0, 0, "Spaceship", "line 1: type"),
    (0, 1, "1.5", "line 1: truncated"),
    (0, 2, "1.7", "occluded"),
    (0, 2, "5", "occluded"),
    (0, 3, "nan", "line 1"),
    (0, 6, "1e400", "line 1"),  # overflows to inf
    (0, 4, "9999", "bbox"),  # left > right
    (0, 7, "10", "bbox"),  # bottom < top
    (0, 8, "-1.5", "dimensions"),
    (0, 14, "7.5", "line 1: rotation_y"),
    (0, 3, "4.0", "line 1: alpha"),
    (0, 9, "abc", "columns 2-16"),
]


@pytest.mark.parametrize("line, column, value, field", LABEL_DEFECTS)
def test_a_malformed_label_names_the_file_and_the_field(frame, line, column, value, field):
    path = frame / "label_2" / f"{FRAME}.txt"
    _edit_line(path, line, column, value)
    with pytest.raises(DataFormatError, match=f"{FRAME}.txt.*{field}"):
        read_label(path)


def test_a_label_box_outside_the_image_is_refused_when_the_size_is_known(frame):
    path = frame / "label_2" / f"{FRAME}.txt"
    assert read_label(path, image_size=(4000, 4000))
    with pytest.raises(DataFormatError, match="outside the 50×20 image"):
        read_label(path, image_size=(50, 20))


@pytest.mark.parametrize("edit, field", [
    (lambda t: t.replace("P2:", "P2: nan", 1), "P2"),
    (lambda t: t.replace("R0_rect:", "R0_rect: inf", 1), "R0_rect"),
    (lambda t: "\n".join(line if not line.startswith("R0_rect") else "R0_rect: " + " ".join(["0"] * 9)
                         for line in t.splitlines()), "R0_rect"),
    (lambda t: t.replace("Tr_velo_to_cam:", "Tr_velo_to_cam", 1), "Tr_velo_to_cam"),
])
def test_a_malformed_calibration_names_the_matrix(frame, edit, field):
    path = frame / "calib" / f"{FRAME}.txt"
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataFormatError, match=f"{FRAME}.txt.*{field}"):
        read_calib(path)


def test_a_calibration_in_another_encoding_names_the_file(frame):
    path = frame / "calib" / f"{FRAME}.txt"
    path.write_bytes("P2: 7,0 é".encode("latin-1"))
    with pytest.raises(DataFormatError, match=f"{FRAME}.txt: not UTF-8"):
        read_calib(path)


@pytest.mark.parametrize("cut, message", [(3, "multiple of 16 bytes"), (None, "non-empty")])
def test_a_truncated_or_empty_scan_is_refused(frame, cut, message):
    path = frame / "velodyne" / f"{FRAME}.bin"
    path.write_bytes(path.read_bytes()[:-cut] if cut else b"")
    with pytest.raises(DataFormatError, match=f"{FRAME}.bin.*{message}"):
        read_velodyne(path)


def test_a_scan_with_a_nan_point_names_the_point(frame):
    path = frame / "velodyne" / f"{FRAME}.bin"
    points = read_velodyne(path)
    points[7, 1] = np.nan
    points.tofile(path)
    with pytest.raises(DataFormatError, match="point 7"):
        read_velodyne(path)


def test_depth_maps_must_be_16_bit_single_channel_and_whole(frame):
    path = frame / "depth_2" / f"{FRAME}.png"
    depth = read_depth(path)
    assert depth.dtype == np.float32 and depth.max() > 1
    with pytest.raises(DataFormatError, match="image is .* the annotation says 1×1"):
        read_depth(path, size=(1, 1))
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)  # an 8-bit RGB PNG
    with pytest.raises(DataFormatError, match=f"{FRAME}.png.*mode 'RGB'"):
        read_depth(path)
    data = (frame / "calib" / f"{FRAME}.txt").read_bytes()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)  # a PNG signature, then garbage
    with pytest.raises(DataFormatError, match=f"{FRAME}.png"):
        read_depth(path)
