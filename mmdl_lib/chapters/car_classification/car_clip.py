"""CLIP as a car-model classifier (chapter 06, approach 1): class-name prompts, cosine-similarity inference.

Zero-shot, the class scores are the cosine similarities of an image to the prompts
"a photo of a <car model name>" times CLIP's logit scale; fine-tuning trains both towers
end to end with the contrastive loss on (image, class-name) pairs of a batch (images of the same
class are all positives of its text), and inference stays the same cosine similarity.
"""

from __future__ import annotations

import torch
from torch import nn

from ...losses.distillation import clip_loss
from ...models.teacher import CLIPTeacher

PROMPT = "a photo of a {}."


def class_prompt(name: str, template: str = PROMPT) -> str:
    """``"Aster_Sedan_Gen1_2015_2018"`` → ``"a photo of a Aster Sedan Gen1 2015 2018."``."""
    return template.format(name.replace("_", " "))


class CLIPCarClassifier(nn.Module):
    """Logits = logit_scale · cos(image, prompt of each class); both towers trainable."""

    def __init__(self, clip: CLIPTeacher, class_names: list[str], template: str = PROMPT):
        super().__init__()
        self.clip = clip
        self.prompts = [class_prompt(name, template) for name in class_names]
        self._frozen_text: torch.Tensor | None = None  # class embeddings reused while evaluating

    def train(self, mode: bool = True) -> "CLIPCarClassifier":
        self._frozen_text = None  # the text tower may change while training
        return super().train(mode)

    def class_embeddings(self, labels: torch.Tensor | None = None) -> torch.Tensor:
        prompts = self.prompts if labels is None else [self.prompts[i] for i in labels.tolist()]
        return self.clip.encode_text(prompts)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        scale = self.clip.model.logit_scale.exp().clamp(max=100)
        if self.training or torch.is_grad_enabled():
            text = self.class_embeddings()
        else:  # inference over many batches: encode the (up to 396) prompts once
            if self._frozen_text is None:
                self._frozen_text = self.class_embeddings()
            text = self._frozen_text
        return scale * self.clip.encode_image(images) @ text.T

    def contrastive_loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE between a batch's images and its class-name texts (one text per class)."""
        unique, inverse = labels.unique(return_inverse=True)
        text = self.class_embeddings(unique)[inverse]
        temperature = 1.0 / self.clip.model.logit_scale.exp().clamp(max=100)
        return clip_loss(self.clip.encode_image(images), text, labels, float(temperature.detach()))
