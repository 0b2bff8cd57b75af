"""The two OpenMMLab models chapters 03 and 04 build on, through their registries from packaged configs."""

import numpy as np
import pytest
import torch

from mmdl_lib.chapters.pseudo_lidar_kd.frames import frame_inputs
from mmdl_lib.data.kitti import lidar_to_image
from mmdl_lib.openmmlab import build_model, load_config


@pytest.fixture(scope="module")
def kitti(tiny_world):
    return tiny_world / "kitti"


def test_mvxnet_from_the_packaged_kitti_config_trains_a_step_and_predicts(kitti):
    cfg = load_config("mvxnet_kitti_smoke")
    assert cfg.model.type == "DynamicMVXFasterRCNN" and cfg.model.pts_voxel_encoder.type == "DynamicVFE"
    torch.manual_seed(0)
    model = build_model(cfg, "mmdet3d")
    data = frame_inputs(kitti, "000000")
    assert len(data["data_samples"][0].gt_instances_3d) > 0
    model.train()
    batch = model.data_preprocessor(data, training=True)
    losses = model.loss(batch["inputs"], batch["data_samples"])
    total = sum(sum(v) if isinstance(v, list) else v for k, v in losses.items() if k.startswith("loss"))
    assert torch.isfinite(total) and total > 0
    total.backward()
    grads = [p.grad for p in model.pts_voxel_encoder.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)  # the loss reaches the point branch
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(data, training=False)
        result = model.predict(batch["inputs"], batch["data_samples"])[0].pred_instances_3d
    assert result.bboxes_3d.tensor.shape[1] == 7 and len(result.scores_3d) == len(result.labels_3d) <= 50


def test_the_kitti_boxes_land_on_their_image_boxes(kitti):
    """Labels converted to the LiDAR frame and projected back with lidar2img hit the 2D label boxes."""
    from mmdl_lib.data.kitti import read_calib, read_label

    data = frame_inputs(kitti, "000001")
    sample = data["data_samples"][0]
    corners = sample.gt_instances_3d.bboxes_3d.corners.reshape(-1, 3).numpy()
    projected = np.hstack([corners, np.ones((len(corners), 1))]) @ lidar_to_image(
        read_calib(kitti / "training" / "calib" / "000001.txt")).T
    uv = (projected[:, :2] / projected[:, 2:3]).reshape(-1, 8, 2)
    labels = [o for o in read_label(kitti / "training" / "label_2" / "000001.txt")
              if o.type in ("Pedestrian", "Cyclist", "Car")]
    for box, label in zip(uv, labels):
        centre = box.mean(axis=0)
        left, top, right, bottom = label.bbox
        assert left - 2 <= centre[0] <= right + 2 and top - 2 <= centre[1] <= bottom + 2


def test_mask2former_trains_a_step_at_a_small_size():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    torch.manual_seed(0)
    model = build_model(load_config("mask2former_cityscapes_smoke"), "mmseg")
    assert type(model.decode_head).__name__ == "Mask2FormerHead"
    sample = SegDataSample(metainfo={"img_shape": (128, 256), "ori_shape": (128, 256), "pad_shape": (128, 256)})
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, 128, 256)))
    batch = model.data_preprocessor({"inputs": [torch.randint(0, 255, (3, 128, 256), dtype=torch.uint8)],
                                     "data_samples": [sample]}, training=True)
    losses = model.loss(batch["inputs"], batch["data_samples"])
    total = sum(v for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.decode_head.transformer_decoder.layers[0].cross_attn.attn.in_proj_weight.grad is not None
    with torch.no_grad():
        model.eval()
        out = model.predict(batch["inputs"], batch["data_samples"])
    assert out[0].pred_sem_seg.data.shape[-2:] == (128, 256)


def test_configs_are_made_runnable_here_without_downloads():
    from mmdl_lib.openmmlab import runnable_here

    cfg = {"backbone": {"type": "ResNet", "norm_cfg": {"type": "SyncBN"}, "pretrained": "torchvision://resnet50",
                        "init_cfg": {"type": "Pretrained", "checkpoint": "x"}},
           "head": {"init_cfg": {"type": "Normal", "std": 0.01}, "layers": [{"type": "SyncBN"}]}}
    out = runnable_here(cfg, cuda=False)
    assert out == {"backbone": {"type": "ResNet", "norm_cfg": {"type": "BN"}},
                   "head": {"init_cfg": {"type": "Normal", "std": 0.01}, "layers": [{"type": "BN"}]}}
    assert runnable_here(cfg, cuda=True)["backbone"]["norm_cfg"]["type"] == "SyncBN"
