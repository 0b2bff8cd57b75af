# The TDOS model of chapter 04 (seed 003), shared by its smoke and full configs: a frozen CLIP image
# tower as the Mask2Former backbone and a text classifier over CoOp prompts for the 19 Cityscapes
# classes plus one OOD class (the log-sum-exp over every OOD prompt). A config takes `tdos_model` and
# adds its CLIP (`clip`), the backbone's `out_channels` and its own head sizes. Names carry `tdos_`:
# mmengine refuses a key that two bases of one config both define (mmseg's `num_classes`).
tdos_class_names = ['road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign',
                    'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
                    'motorcycle', 'bicycle']
tdos_num_classes = 20
tdos_model = dict(
    type='TextDrivenOODSeg',
    ood_augmentation=dict(probability=0.5, max_regions=2, radius=(0.04, 0.15), object_fraction=0.5),
    data_preprocessor=dict(mean=[122.771, 116.746, 104.094], std=[68.501, 66.632, 70.323], bgr_to_rgb=False),
    backbone=dict(_delete_=True, type='CLIPVisionBackbone', frozen=True, perturb_layer=-1, perturb_strength=1.0),
    decode_head=dict(
        type='TextMask2FormerHead', num_classes=tdos_num_classes,
        text_classifier=dict(class_names=tdos_class_names, n_ctx=8, learnable_cls_num=50, ood_concepts=[]),
        loss_cls=dict(class_weight=[1.0] * tdos_num_classes + [0.1])))
