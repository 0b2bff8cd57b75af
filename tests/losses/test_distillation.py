import math

import pytest
import torch
import torch.nn.functional as F

from mmdl_lib.losses.distillation import (CaptionClipLoss, DistillationLosses, clip_loss, cosine_loss,
                                          multi_positive_info_nce, similarity_kd_loss)


def test_info_nce_by_hand():
    logits = torch.tensor([[2.0, 0.0], [1.0, 3.0]])
    positives = torch.eye(2, dtype=torch.bool)
    expected = -(math.log(math.exp(2) / (math.exp(2) + 1)) + math.log(math.exp(3) / (math.exp(1) + math.exp(3)))) / 2
    assert multi_positive_info_nce(logits, positives).item() == pytest.approx(expected)


def test_info_nce_with_two_positives_targets_both_equally():
    logits = torch.tensor([[1.0, 1.0, -1.0]])
    positives = torch.tensor([[True, True, False]])
    z = 2 * math.e + math.exp(-1)
    assert multi_positive_info_nce(logits, positives).item() == pytest.approx(-math.log(math.e / z))


def test_clip_loss_reduces_to_symmetric_clip_with_unique_captions():
    torch.manual_seed(0)
    img, txt = F.normalize(torch.randn(4, 8), dim=1), F.normalize(torch.randn(4, 8), dim=1)
    logits = img @ txt.T / 0.1
    labels = torch.arange(4)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert clip_loss(img, txt, labels, 0.1).item() == pytest.approx(expected.item(), rel=1e-6)


def test_identical_embeddings_give_zero_cosine_and_kl():
    torch.manual_seed(0)
    emb = F.normalize(torch.randn(5, 16), dim=1)
    text = F.normalize(torch.randn(3, 16), dim=1)
    assert cosine_loss(emb, emb).item() == pytest.approx(0.0, abs=1e-6)
    assert similarity_kd_loss(emb, emb, text, 0.1).item() == pytest.approx(0.0, abs=1e-6)


def test_opposite_embeddings_give_cosine_loss_two():
    emb = F.normalize(torch.randn(3, 4), dim=1)
    assert cosine_loss(emb, -emb).item() == pytest.approx(2.0, abs=1e-6)


def test_kl_by_hand():
    text = torch.eye(2)
    teacher, student = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    p = torch.softmax(torch.tensor([1.0, 0.0]), 0)
    q = torch.softmax(torch.tensor([0.0, 1.0]), 0)
    expected = float((p * (p / q).log()).sum())
    assert similarity_kd_loss(student, teacher, text, 1.0).item() == pytest.approx(expected, rel=1e-6)


def test_losses_return_every_term_and_weighted_total():
    torch.manual_seed(1)
    s, t, txt = (F.normalize(torch.randn(6, 8), dim=1) for _ in range(3))
    ids = torch.tensor([0, 1, 1, 2, 3, 0])
    terms = DistillationLosses(w_clip=1.0, w_sim=0.5, w_cos=2.0)(s, t, txt, ids)
    assert set(terms) == {"clip", "sim", "cos", "total"}
    assert terms["total"].item() == pytest.approx(terms["clip"].item() + 0.5 * terms["sim"].item()
                                                  + 2 * terms["cos"].item(), rel=1e-6)
    only_cos = DistillationLosses(0, 0, 1)(s, t, txt, ids)
    assert only_cos["total"].item() == pytest.approx(only_cos["cos"].item())


def test_caption_clip_loss_encodes_each_caption_once_and_equals_clip_loss():
    torch.manual_seed(0)
    table = F.normalize(torch.randn(5, 4), dim=-1)  # caption id → its text embedding
    encoded = []

    class Tower:
        def encode_text(self, tokens, normalize):
            encoded.append(tokens.tolist())
            return table[tokens[:, 0]]

    class Model:
        model = Tower()

        def encode_image(self, images):
            return F.normalize(images, dim=-1)

    tokens = torch.arange(5)[:, None]  # "tokenized" captions: row i encodes caption i
    batch = {"caption": torch.tensor([3, 1, 3, 0]), "image": torch.randn(4, 4)}
    found = CaptionClipLoss(tokens, temperature=0.1)(Model(), batch)["total"]
    assert encoded == [[[0], [1], [3]]]  # unique captions, once each
    expected = clip_loss(F.normalize(batch["image"], dim=-1), table[batch["caption"]], batch["caption"], 0.1)
    assert found.item() == pytest.approx(expected.item())
