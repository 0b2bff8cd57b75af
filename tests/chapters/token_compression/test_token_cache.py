"""Chapter 05's token cache: computed once per key, memory-mapped back, clear errors."""

import numpy as np
import pytest
import torch

from mmdl_lib.chapters.token_compression.token_cache import cached_tokens, stratified_subset
from mmdl_lib.errors import DataFormatError


def test_tokens_are_computed_once_and_read_back(tiny_world, isolated_home):
    calls = []

    def encode(images):
        calls.append(len(images))
        return images.mean(1, keepdim=True).repeat(1, 4, 1, 1)[:, :, ::4, ::4]  # (B, 4, 4, 4)

    root = tiny_world / "imagefolder"
    first = cached_tokens(encode, root, "train", 16, None, {"encoder": "test"}, torch.device("cpu"), batch_size=5)
    n = len(first)
    assert first.tokens.shape == (n, 4, 4, 4) and first.tokens.dtype == np.float16
    assert isinstance(first.tokens, np.memmap) and len(first.labels) == n and first.classes
    assert sum(calls) == n
    again = cached_tokens(encode, root, "train", 16, None, {"encoder": "test"}, torch.device("cpu"))
    assert sum(calls) == n and np.array_equal(again.tokens, first.tokens)  # from the cache
    cached_tokens(encode, root, "train", 16, None, {"encoder": "other"}, torch.device("cpu"))
    assert sum(calls) == 2 * n  # another encoder, other tokens
    assert first.batch(torch.tensor([1, 0])).dtype == torch.float32


def test_missing_and_empty_splits_are_named(tmp_path, isolated_home):
    with pytest.raises(DataFormatError, match="train.*image folder not found"):
        cached_tokens(lambda x: x, tmp_path, "train", 16, None, {}, torch.device("cpu"))
    (tmp_path / "val" / "car").mkdir(parents=True)
    with pytest.raises(DataFormatError, match="val.*not an image folder"):
        cached_tokens(lambda x: x, tmp_path, "val", 16, None, {}, torch.device("cpu"))


def test_stratified_subset_spreads_over_classes():
    labels = [0] * 10 + [1] * 10 + [2] * 10
    picked = stratified_subset(labels, 6)
    assert len(picked) == 6 and sorted({labels[i] for i in picked}) == [0, 1, 2]
    assert stratified_subset(labels, None) == list(range(30))
