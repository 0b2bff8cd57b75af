import pytest
import torch

from mmdl_lib.chapters.car_classification.qlora_vlm import (QLoRASettings, build_random_qwen2_5_vl, hybrid_prompt,
                                                            keep_cpu_packing_to_supported_shapes, load_qlora_vlm,
                                                            load_vlm_processor, tiny_qwen2_5_vl_config)
from mmdl_lib.chapters.car_classification.vlm_features import QwenVisionFeatures
from mmdl_lib.chapters.car_classification.vlm_finetune import (IGNORE, answer_batch, answer_loss, score_candidates,
                                                               train_answers)

NAMES = ["Aster_Sedan_Gen1_2015_2018", "Borealis_Suv_Gen2_2018_2021", "Cygna_Coupe_Gen1_2021_2024"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    corpus = [hybrid_prompt([(n, 0.5)]) + n for n in NAMES] * 4
    return build_random_qwen2_5_vl(tmp_path_factory.mktemp("vlm"), corpus, tiny_qwen2_5_vl_config)


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


def test_the_answer_loss_equals_the_models_own_label_loss(qlora):
    """Logits only from the first answer position on give the loss transformers computes from labels."""
    model, processor = qlora
    images = [torch.rand(3, 64, 64) for _ in range(2)]
    batch = answer_batch(processor, images, [hybrid_prompt([(NAMES[0], 0.9)]), hybrid_prompt([(NAMES[1], 0.4)])],
                         [NAMES[0], NAMES[2]])
    with torch.no_grad():
        model.eval()
        assert float(answer_loss(model, batch)) == pytest.approx(float(model(**batch).loss), rel=1e-4)


def test_image_tokens_get_multimodal_rope_positions(qlora):
    """The batch marks the image tokens, so Qwen2.5-VL gives them 2-D (height, width) positions."""
    model, processor = qlora
    batch = answer_batch(processor, [torch.rand(3, 112, 56)], [hybrid_prompt([(NAMES[0], 0.9)])], [NAMES[0]])
    base = model.get_base_model().model
    positions, _ = base.get_rope_index(batch["input_ids"], image_grid_thw=batch["image_grid_thw"],
                                       attention_mask=batch["attention_mask"],
                                       mm_token_type_ids=batch["mm_token_type_ids"])
    image = batch["mm_token_type_ids"][0] == 1
    assert image.sum() == int(batch["image_grid_thw"].prod()) // 4
    assert not torch.equal(positions[1, 0, image], positions[2, 0, image])  # rows and columns differ


def test_the_processor_resizes_within_max_image_pixels(tiny):
    """The full profile bounds Qwen's resize (448² px): a large photo becomes at most that many pixels."""
    import numpy as np

    processor = load_vlm_processor(tiny, 112 * 112)
    grid = processor.image_processor(images=[np.zeros((900, 1600, 3), np.uint8)], return_tensors="pt")["image_grid_thw"]
    area = int(grid[0, 1] * grid[0, 2]) * 14 * 14  # patches × patch area
    assert 56 * 56 < area <= 112 * 112  # above the checkpoint's own bound (56² px), within the given one


@pytest.fixture(scope="module")
def sharp(tiny):
    """The tiny model unquantised, its attention sharpened: a random model at initialisation attends
    almost uniformly, so token positions would barely move its scores."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(tiny)).eval()
    with torch.no_grad():
        for layer in model.model.language_model.layers:
            layer.self_attn.q_proj.weight.mul_(30)
            layer.self_attn.k_proj.weight.mul_(30)
    return model, load_vlm_processor(tiny, 112 * 112)  # 4×4 merged image tokens: their RoPE offset is −12


def test_scoring_with_a_shared_prefix_equals_scoring_whole_sequences(sharp):
    """One pass over image and prompt, its cache repeated for the K answers, gives the same
    log-likelihoods as K full sequences, the answers at the multimodal-RoPE positions after the prompt."""
    from mmdl_lib.chapters.car_classification.vlm_finetune import answer_log_likelihoods

    model, processor = sharp
    image, prompt = torch.rand(3, 112, 112), hybrid_prompt([(NAMES[1], 0.7), (NAMES[0], 0.3)])
    names = [NAMES[0], NAMES[2], NAMES[1]]
    # batched with a shorter prompt and a smaller image (left padding, other RoPE offsets) in front
    other = [torch.rand(3, 56, 84), hybrid_prompt([(NAMES[2], 1.0)]), names[::-1]]
    shared = score_candidates(model, processor, [other[0], image], [other[1], prompt], [other[2], names],
                              torch.device("cpu"))[1]
    batch = answer_batch(processor, [image] * 3, [prompt] * 3, names)
    with torch.no_grad():
        whole = answer_log_likelihoods(model, batch).numpy()
        # the same sequences with the answers two positions off: what a wrong RoPE offset would score
        positions, _ = model.model.get_rope_index(batch["input_ids"], image_grid_thw=batch["image_grid_thw"],
                                                  attention_mask=batch["attention_mask"],
                                                  mm_token_type_ids=batch["mm_token_type_ids"])
        start = int((batch["labels"] != IGNORE).any(dim=0).nonzero()[0])
        positions[:, :, start - 1:] += 2
        shifted = answer_log_likelihoods(model, {**batch, "position_ids": positions}).numpy()
    assert shared == pytest.approx(whole, abs=1e-3)
    assert abs(shifted - whole).max() > 0.05


def test_layers_the_packed_cpu_kernel_cannot_take_keep_the_plain_4bit_path():
    """On AVX512-BF16 CPUs bitsandbytes repacks 4-bit weights at the first no-grad call and asserts
    on 40-wide layers (the rehearsal's small towers); those keep the plain path, 64-wide ones may pack."""
    import bitsandbytes as bnb

    torch.manual_seed(0)
    layers = [bnb.nn.Linear4bit(64, 40, quant_type="nf4", compute_dtype=torch.float32),
              bnb.nn.Linear4bit(40, 64, quant_type="nf4", compute_dtype=torch.float32),
              bnb.nn.Linear4bit(64, 64, quant_type="nf4", compute_dtype=torch.float32)]
    net = torch.nn.Sequential(*layers).to("cpu").eval()
    packing = layers[2].support_avx512bf16_for_cpu
    assert keep_cpu_packing_to_supported_shapes(net) == 2
    assert [m.support_avx512bf16_for_cpu for m in layers] == [False, False, packing]
    with torch.no_grad():
        assert net(torch.randn(3, 64)).shape == (3, 64)
