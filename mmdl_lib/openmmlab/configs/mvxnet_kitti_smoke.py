# MVX-Net (dynamic voxels, PointFusion) for chapter 03's smoke profile: mmdet3d's packaged KITTI
# 3-class config, the same modules in the same order, made small enough to train in minutes on two
# CPU cores: a ResNet-18 image branch at a quarter of its width, a 32 m × 32 m point range in front
# of the camera at 0.1 m voxels (a 40 × 40 bird's-eye grid, 0.8 m a cell) and narrow point branches.
# Only overrides live here; everything else — anchors, assigners, losses, test-time NMS — is the
# packaged config.
_base_ = ['mmdet3d::mvxnet/mvxnet_fpn_dv_second_secfpn_8xb2-80e_kitti-3d-3class.py']

voxel_size = [0.1, 0.1, 0.1]
point_cloud_range = [0, -16, -3, 32, 16, 1]
z_anchors = [-0.6, -0.6, -1.78]  # Pedestrian, Cyclist, Car: the packaged anchors' heights

model = dict(
    data_preprocessor=dict(voxel_layer=dict(point_cloud_range=point_cloud_range, voxel_size=voxel_size)),
    img_backbone=dict(depth=18, base_channels=16, frozen_stages=-1, norm_eval=False,
                      norm_cfg=dict(type='BN', requires_grad=True)),
    img_neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    pts_voxel_encoder=dict(
        feat_channels=[16, 16], voxel_size=voxel_size, point_cloud_range=point_cloud_range,
        fusion_layer=dict(img_channels=32, pts_channels=16, mid_channels=32, out_channels=32)),
    pts_middle_encoder=dict(in_channels=32, sparse_shape=[41, 320, 320], base_channels=8,
                            encoder_channels=((8, ), (16, 16, 16), (32, 32, 32), (32, 32, 32)),
                            output_channels=32),
    pts_backbone=dict(in_channels=64, layer_nums=[1, 1], out_channels=[32, 64]),
    pts_neck=dict(in_channels=[32, 64], out_channels=[32, 32]),
    pts_bbox_head=dict(
        in_channels=64, feat_channels=64,
        anchor_generator=dict(ranges=[[0, -16, z, 32, 16, z] for z in z_anchors])))
