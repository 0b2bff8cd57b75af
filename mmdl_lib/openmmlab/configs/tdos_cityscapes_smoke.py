# TDOS (chapter 04) at smoke size: the full config's model with chapter 01's small CLIP (its weights
# filled in by the stage), the book's small Mask2Former (mask2former_cityscapes_smoke: 64 channels,
# 2+2 layers) at 128×256, and fewer sampled points in the mask losses.
_base_ = ['./mask2former_cityscapes_smoke.py']

clip = dict(name='mmdl-vit-tiny-teacher', pretrained=None, weights=None)
class_names = ['road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign',
               'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
               'motorcycle', 'bicycle']
num_classes = 20
model = dict(
    type='TextDrivenOODSeg',
    ood_augmentation=dict(probability=0.5, max_regions=2, radius=(0.04, 0.15), object_fraction=0.5),
    data_preprocessor=dict(mean=[122.771, 116.746, 104.094], std=[68.501, 66.632, 70.323], bgr_to_rgb=False),
    backbone=dict(_delete_=True, type='CLIPVisionBackbone', clip=clip, out_channels=[64, 128, 256, 512],
                  frozen=True, perturb_layer=-1, perturb_strength=1.0),
    decode_head=dict(
        type='TextMask2FormerHead', num_classes=num_classes, num_queries=32,
        text_classifier=dict(clip=clip, class_names=class_names, n_ctx=8, learnable_cls_num=50, ood_concepts=[]),
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1]),
        train_cfg=dict(num_points=2048)))
