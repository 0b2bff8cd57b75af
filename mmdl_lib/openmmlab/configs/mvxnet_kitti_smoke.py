# MVX-Net (dynamic voxels, PointFusion) for chapter 03's smoke profile: mmdet3d's packaged KITTI
# 3-class config with a smaller image backbone, a 38.4 m × 38.4 m point range at 0.2 m BEV voxels and
# narrower point branches, so that a training step takes about a second on two CPU cores. Only
# overrides live here; everything else is the packaged config.
_base_ = ['mmdet3d::mvxnet/mvxnet_fpn_dv_second_secfpn_8xb2-80e_kitti-3d-3class.py']

voxel_size = [0.2, 0.2, 0.1]
point_cloud_range = [0, -19.2, -3, 38.4, 19.2, 1]
z_anchors = [-0.6, -0.6, -1.78]  # Pedestrian, Cyclist, Car: the packaged anchors' heights

model = dict(
    data_preprocessor=dict(voxel_layer=dict(point_cloud_range=point_cloud_range, voxel_size=voxel_size)),
    img_backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, norm_cfg=dict(type='BN', requires_grad=True)),
    img_neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    pts_voxel_encoder=dict(
        feat_channels=[32, 32], voxel_size=voxel_size, point_cloud_range=point_cloud_range,
        fusion_layer=dict(img_channels=64, pts_channels=32, mid_channels=64, out_channels=64)),
    pts_middle_encoder=dict(in_channels=64, sparse_shape=[41, 192, 192], base_channels=8,
                            encoder_channels=((8, ), (16, 16, 16), (32, 32, 32), (32, 32, 32)),
                            output_channels=64),
    pts_backbone=dict(in_channels=128, layer_nums=[2, 2], out_channels=[64, 128]),
    pts_neck=dict(in_channels=[64, 128], out_channels=[64, 64]),
    pts_bbox_head=dict(
        in_channels=128, feat_channels=128,
        anchor_generator=dict(ranges=[[0, -19.2, z, 38.4, 19.2, z] for z in z_anchors])))
