# Mask2Former (mmsegmentation, with mmdet's pixel decoder and masked-attention transformer decoder)
# at smoke size: mmseg's packaged Cityscapes config with a ResNet-18, 64 channels, 2+2 layers and
# 20 queries at 128×256 crops. Only overrides live here; everything else is the packaged config.
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py']

crop_size = (128, 256)
channels = 64
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18, norm_cfg=dict(type='BN', requires_grad=True), init_cfg=None),
    decode_head=dict(
        in_channels=[64, 128, 256, 512], feat_channels=channels, out_channels=channels, num_queries=20,
        pixel_decoder=dict(
            encoder=dict(num_layers=2, layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=channels, num_heads=4),
                ffn_cfg=dict(embed_dims=channels, feedforward_channels=2 * channels))),
            positional_encoding=dict(num_feats=channels // 2)),
        positional_encoding=dict(num_feats=channels // 2),
        transformer_decoder=dict(num_layers=2, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=channels, num_heads=4),
            cross_attn_cfg=dict(embed_dims=channels, num_heads=4),
            ffn_cfg=dict(embed_dims=channels, feedforward_channels=2 * channels)))))
