import pytest
import torch

from mmdl_lib.chapters.talk2car.losses import Talk2CarLoss
from mmdl_lib.chapters.talk2car.model import (ProjectionGroundingHead, Talk2CarModel, TransformerGroundingHead,
                                              sine_positional_encoding_2d, token_centres)
from mmdl_lib.models.student import StudentConfig, build_student, load_student, save_student


@pytest.fixture(scope="module")
def encoder():
    return build_student(StudentConfig(backbone="convnext_atto", embed_dim=32, image_size=64, multiscale=True,
                                       map_dim=32))


def test_positional_encoding_and_centres():
    pe = sine_positional_encoding_2d(3, 4, 16)
    assert pe.shape == (12, 16) and len({tuple(r) for r in pe.round(decimals=5).tolist()}) == 12
    centres = token_centres(2, 4)
    assert centres[0].tolist() == pytest.approx([0.125, 0.25]) and centres[-1].tolist() == pytest.approx([0.875, 0.75])


@pytest.mark.parametrize("head_cls", [TransformerGroundingHead, ProjectionGroundingHead])
def test_shapes_and_a_gradient_step(encoder, head_cls):
    torch.manual_seed(0)
    head = head_cls(encoder.pyramid_channels, 24, **({"d_model": 32, "num_layers": 1} if head_cls is
                                                      TransformerGroundingHead else {}))
    model = Talk2CarModel(encoder, head, freeze_encoder=True)
    images, text = torch.rand(2, 3, 64, 112), torch.randn(2, 24)
    boxes = model(images, text)
    assert boxes.shape == (2, 4) and ((boxes >= 0) & (boxes <= 1)).all()
    target = torch.tensor([[0.1, 0.2, 0.3, 0.3], [0.5, 0.5, 0.2, 0.4]])
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    before = {n: p.detach().clone() for n, p in model.head.named_parameters()}
    loss = Talk2CarLoss()(model(images, text), target)["total"]
    loss.backward()
    optimizer.step()
    assert any(not torch.equal(before[n], p) for n, p in model.head.named_parameters())
    assert all(p.grad is None for p in model.encoder.parameters())  # frozen


def test_transformer_head_scores_tokens_and_picks_the_best_in_eval(encoder):
    torch.manual_seed(0)
    head = TransformerGroundingHead(encoder.pyramid_channels, 8, d_model=32, num_layers=1)
    features = encoder.forward_pyramid(torch.rand(1, 3, 64, 96))
    text = torch.randn(3, 8)
    out = head.train()(features, text, torch.zeros(3, dtype=torch.long))
    h, w = features.shape[-2:]
    assert out["attention"].shape == (3, h, w) and out["token_boxes"].shape == (3, h * w, 4)
    assert torch.allclose(out["attention"].flatten(1).sum(dim=1), torch.ones(3), atol=1e-5)
    # training: the attention-weighted mean of the token boxes (differentiable)
    assert torch.allclose(out["box"], (out["attention"].flatten(1)[..., None] * out["token_boxes"]).sum(1), atol=1e-6)
    out = head.eval()(features, text, torch.zeros(3, dtype=torch.long))
    best = out["attention"].flatten(1).argmax(dim=1)
    assert torch.equal(out["box"], out["token_boxes"][torch.arange(3), best])
    # sharing one image's map through image_index is the same as repeating the map
    repeated = head(features.expand(3, -1, -1, -1), text)
    assert torch.allclose(repeated["box"], out["box"], atol=1e-5)


def test_projection_head_maps_commands_to_their_image(encoder):
    head = ProjectionGroundingHead(encoder.pyramid_channels, 8).eval()
    features, text = torch.randn(2, encoder.pyramid_channels, 3, 4), torch.randn(3, 8)
    index = torch.tensor([1, 0, 1])
    assert torch.allclose(head(features, text, index)["box"], head(features[index], text)["box"])


def test_students_keep_maps_and_round_trip(tmp_path):
    for multiscale, stride in ((False, 32), (True, 16)):
        student = build_student(StudentConfig(backbone="convnext_atto", embed_dim=16, image_size=64,
                                              multiscale=multiscale, map_dim=32)).eval()
        x = torch.rand(2, 3, 64, 128)
        assert student.forward_map(x).shape[-2:] == (64 // stride, 128 // stride)
        pyramid = student.forward_pyramid(x)  # stages 2–4 on the stride-16 grid, whichever the variant
        assert pyramid.shape == (2, student.pyramid_channels, 64 // 16, 128 // 16)
        emb = student(x)
        assert emb.shape == (2, 16) and torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)
        save_student(student, tmp_path / str(multiscale), {"teacher": {"name": "x"}})
        loaded, meta = load_student(tmp_path / str(multiscale))
        assert torch.allclose(loaded.eval()(x), emb, atol=1e-5) and meta["teacher"]["name"] == "x"


def test_grounding_model_saves_beside_its_encoder_and_predicts_the_same_boxes(tmp_path, encoder):
    from mmdl_lib.chapters.talk2car.model import build_head, head_kwargs, load_grounding, predict, save_grounding

    torch.manual_seed(0)
    config = {"head": "transformer", "d_model": 16, "num_layers": 1, "num_encoder_layers": 1}
    save_student(encoder, tmp_path / "encoder", {"teacher": {"name": "x"}})
    model = Talk2CarModel(encoder, build_head("transformer", encoder.pyramid_channels, 6,
                                              **head_kwargs(config, "transformer")))
    features, text = torch.randn(3, encoder.pyramid_channels, 2, 4), torch.randn(5, 6)
    image_index = torch.tensor([0, 2, 2, 1, 0]).numpy()
    boxes = predict(model, features, image_index, text, torch.device("cpu"), batch_size=2)
    assert boxes.shape == (5, 4) and (boxes[:, 2:] > 0).all()
    save_grounding(tmp_path / "grounding", model, config, tmp_path / "encoder", text_dim=6)
    loaded, meta = load_grounding(tmp_path / "grounding")
    assert meta["encoder"] == str(tmp_path / "encoder")
    assert torch.allclose(predict(loaded, features, image_index, text, torch.device("cpu")), boxes, atol=1e-6)
