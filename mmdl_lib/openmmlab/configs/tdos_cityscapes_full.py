# TDOS (chapter 04, seed 003) at full size: mmseg's packaged Mask2Former Cityscapes config (512×1024
# crops, 100 queries, 6-layer pixel decoder, 9-layer masked-attention decoder) with the CLIP
# ViT-B/16 image tower as a frozen backbone and a text classifier over CoOp prompts. Images arrive
# as RGB tensors (the book's readers), normalised with CLIP's statistics.
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py']

clip = dict(name='ViT-B-16', pretrained='openai', weights=None)
class_names = ['road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign',
               'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
               'motorcycle', 'bicycle']
num_classes = 20  # the 19 Cityscapes classes + one OOD class (the log-sum-exp over every OOD prompt)
model = dict(
    type='TextDrivenOODSeg',
    ood_augmentation=dict(probability=0.5, max_regions=2, radius=(0.04, 0.15), object_fraction=0.5),
    data_preprocessor=dict(mean=[122.771, 116.746, 104.094], std=[68.501, 66.632, 70.323], bgr_to_rgb=False),
    backbone=dict(_delete_=True, type='CLIPVisionBackbone', clip=clip, out_channels=[256, 512, 1024, 2048],
                  frozen=True, perturb_layer=-1, perturb_strength=1.0),
    decode_head=dict(
        type='TextMask2FormerHead', num_classes=num_classes,
        text_classifier=dict(clip=clip, class_names=class_names, n_ctx=8, learnable_cls_num=50, ood_concepts=[]),
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])))
