"""Image-grouped grounding batches (chapter 02): commands of one image travel together."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mmdl_lib.chapters.talk2car.dataset import ImageCommands, collate_image_commands
from mmdl_lib.errors import MMDLError


def test_commands_are_grouped_by_image_and_collated_with_their_image_index():
    features, text, boxes = torch.randn(4, 8, 3, 5), torch.randn(16, 6), torch.rand(16, 4)
    data = ImageCommands(features, np.arange(16) % 4, text, boxes, np.arange(14))
    assert len(data) == 4 and [len(item["text"]) for item in data] == [4, 4, 3, 3]
    assert torch.equal(data[1]["text"], text[[1, 5, 9, 13]])
    batch = next(iter(DataLoader(data, batch_size=4, collate_fn=collate_image_commands)))
    assert batch["features"].shape[0] == 4 and batch["image_index"].tolist() == [0] * 4 + [1] * 4 + [2] * 3 + [3] * 3
    assert torch.equal(batch["features"][1], features[1])


def test_an_empty_training_part_is_reported():
    with pytest.raises(MMDLError, match="empty"):
        ImageCommands(torch.zeros(1, 2, 1, 1), np.zeros(3, int), torch.zeros(3, 2), torch.zeros(3, 4),
                      np.array([], dtype=int))
