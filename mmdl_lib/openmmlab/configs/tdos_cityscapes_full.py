# TDOS (chapter 04, seed 003) at full size: mmseg's packaged Mask2Former Cityscapes config (512×1024
# crops, 100 queries, 6-layer pixel decoder, 9-layer masked-attention decoder) with the CLIP
# ViT-B/16 image tower as a frozen backbone and a text classifier over CoOp prompts (tdos_model.py).
# Images arrive as RGB tensors (the book's readers), normalised with CLIP's statistics.
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py', './tdos_model.py']

class_names = _base_.tdos_class_names
num_classes = _base_.tdos_num_classes
clip = dict(name='ViT-B-16', pretrained='openai', weights=None)
model = dict(_base_.tdos_model)
model['backbone'] = dict(model['backbone'], clip=clip, out_channels=[256, 512, 1024, 2048])
model['decode_head'] = dict(model['decode_head'], text_classifier=dict(model['decode_head']['text_classifier'],
                                                                       clip=clip))
