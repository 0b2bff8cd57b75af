"""The KITTI detectors of seed 001's parameter table, built from their packaged OpenMMLab configs."""

from __future__ import annotations

from ...metrics.cost import count_parameters
from ...openmmlab import build_model, load_config
from .depth_network import build_glpn

PACKAGED_MVXNET = "mmdet3d::mvxnet/mvxnet_fpn_dv_second_secfpn_8xb2-80e_kitti-3d-3class.py"


# chapter 03's comparison (seed 001's parameter table): MVX-Net and three camera-only KITTI detectors
KITTI_DETECTORS = {"MVX-Net": PACKAGED_MVXNET,
                   "PGD": "mmdet3d::pgd/pgd_r101-caffe_fpn_head-gn_4xb3-4x_kitti-mono3d.py",
                   "ImVoxelNet": "mmdet3d::imvoxelnet/imvoxelnet_8xb4_kitti-3d-car.py",
                   "SMOKE": "mmdet3d::smoke/smoke_dla34_dlaneck_gn-all_4xb8-6x_kitti-mono3d.py"}


def parameter_millions(configs: dict[str, str], registry: str = "mmdet3d") -> dict[str, float]:
    """Millions of parameters of each named config's model, built (random weights, nothing downloads)."""
    return {name: sum(p.numel() for p in build_model(load_config(path), registry, init_weights=False).parameters()) / 1e6
            for name, path in configs.items()}


def kitti_parameter_table() -> dict[str, float]:
    """Chapter 03's version of the seed's parameter table: millions of parameters of each model of
    :data:`KITTI_DETECTORS` and of GLPN (KITTI), each built from its packaged config, and their sum."""
    count = parameter_millions(KITTI_DETECTORS)
    glpn = count_parameters(build_glpn("full")) / 1e6
    return {**count, "GLPN (KITTI)": glpn, "ours: GLPN + MVX-Net": glpn + count["MVX-Net"]}
