# TDOS (chapter 04) at smoke size: the full config's model (tdos_model.py) with chapter 01's small CLIP
# (its weights filled in by the stage), the book's small Mask2Former (mask2former_cityscapes_smoke:
# 64 channels, 2+2 layers) at 128×256, 32 queries and fewer sampled points in the mask losses.
_base_ = ['./mask2former_cityscapes_smoke.py', './tdos_model.py']

class_names = _base_.tdos_class_names
num_classes = _base_.tdos_num_classes
clip = dict(name='mmdl-vit-tiny-teacher', pretrained=None, weights=None)
model = dict(_base_.tdos_model)
model['backbone'] = dict(model['backbone'], clip=clip, out_channels=[64, 128, 256, 512])
model['decode_head'] = dict(model['decode_head'], num_queries=32, train_cfg=dict(num_points=2048),
                            text_classifier=dict(model['decode_head']['text_classifier'], clip=clip))
