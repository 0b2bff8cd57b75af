import pytest
import torch

from mmdl_lib.engine.vlm_finetune import IGNORE, answer_batch, score_candidates, train_answers
from mmdl_lib.models.qlora_vlm import QLoRASettings, build_tiny_qwen2_5_vl, hybrid_prompt, load_qlora_vlm
from mmdl_lib.models.vlm_features import QwenVisionFeatures

NAMES = ["Aster_Sedan_Gen1_2015_2018", "Borealis_Suv_Gen2_2018_2021", "Cygna_Coupe_Gen1_2021_2024"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    corpus = [hybrid_prompt([(n, 0.5)]) + n for n in NAMES] * 4
    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("vlm"), corpus)


@pytest.fixture(scope="module")
def qlora(tiny):
    torch.manual_seed(0)
    return load_qlora_vlm(tiny, QLoRASettings(four_bit=True, lora_r=4, lora_alpha=8), torch.device("cpu"))


def test_base_weights_are_4bit_nf4_with_double_quantisation(qlora):
    import bitsandbytes as bnb

    model, _ = qlora
    quantised = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantised
    state = quantised[0].weight.quant_state
    assert state.quant_type == "nf4" and state.nested  # nested = double quantisation
    assert all(("lora_" in n) for n, p in model.named_parameters() if p.requires_grad)


def test_answer_batch_labels_only_the_answer(qlora):
    model, processor = qlora
    images = [torch.rand(3, 64, 64) for _ in range(2)]
    batch = answer_batch(processor, images, [hybrid_prompt([(NAMES[0], 0.9)])] * 2, [NAMES[0], NAMES[1]])
    labelled = batch["labels"] != IGNORE
    answer = processor.tokenizer(NAMES[0] + "<|im_end|>")["input_ids"]
    assert batch["labels"][0][labelled[0]].tolist() == answer
    assert int(batch["image_grid_thw"].prod(1).sum()) == batch["pixel_values"].shape[0]


def test_one_qlora_step_changes_only_adapter_weights(qlora):
    model, processor = qlora
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    images = torch.rand(4, 3, 64, 64)
    log = train_answers(model, processor, images, [hybrid_prompt([(n, 0.5)]) for n in NAMES + NAMES[:1]],
                        NAMES + NAMES[:1], steps=1, batch_size=2, lr=1e-2, device=torch.device("cpu"))
    assert len(log) == 1 and torch.isfinite(torch.tensor(log[0]["loss"]))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed and all("lora_" in n for n in changed)
    assert any("lora_B" in n for n in changed)  # B starts at zero: the adapter's output really moved


def test_the_saved_adapter_holds_only_lora_weights(qlora, tmp_path):
    from safetensors.torch import load_file

    model, _ = qlora
    model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "adapter_model.safetensors")
    assert saved and all("lora_" in name for name in saved)


def test_candidates_are_scored_per_image(qlora):
    model, processor = qlora
    scores = score_candidates(model, processor, torch.rand(1, 3, 64, 64).expand(2, -1, -1, -1), [hybrid_prompt([(NAMES[0], 1.0)])] * 2,
                              [NAMES, NAMES[::-1]], torch.device("cpu"))
    assert scores.shape == (2, 3) and (scores < 0).all()
    assert scores[0] == pytest.approx(scores[1][::-1], rel=1e-4)  # a candidate's score does not depend on its rank


def test_qwen_vision_features_are_one_vector_per_image(tiny):
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(tiny))
    features = QwenVisionFeatures(model, AutoProcessor.from_pretrained(str(tiny)).image_processor)
    out = features(torch.rand(3, 3, 96, 128))
    assert out.shape == (3, model.config.vision_config.out_hidden_size)
