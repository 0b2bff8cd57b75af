"""Qwen2.5-VL with 4-bit weights and LoRA adapters, and the seed's hybrid prompt (chapter 06, approach 4).

Seed 004 fine-tuned a 7B Qwen2.5-VL on one GPU: weights loaded in 4 bits (bitsandbytes NF4 with
double quantisation, ``BitsAndBytesConfig``), the base frozen, and LoRA adapters (peft) trained on
the attention projections. Its **hybrid prompt** hands the model a CV model's top-K predictions
with their probabilities as a text hint ("CV predictions: Santa Fe (70%), Sorento (20%) …").

The full profile loads ``Qwen/Qwen2.5-VL-7B-Instruct``. The smoke profile cannot download it, so
:func:`build_random_qwen2_5_vl` writes a model of the same architecture built from a config (two
layers, width 64), a byte-level BPE tokenizer trained on the chapter's own text, and a
Qwen2.5-VL processor into a folder; from there on both profiles run the same code
(``from_pretrained`` with the same quantisation and LoRA settings). The full profile's rehearsal
(#18) writes the 7B model's published architecture the same way, random weights and fewer layers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ...cache import cache_key, cached_folder
from ...models.published import fewer_layers, published_config

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>"]
SYSTEM = "You are a helpful assistant."
QUESTION = "Which car model is this?"
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
TINY_QWEN2_5_VL = "tiny-qwen2.5-vl"  # the smoke profile's model name: built here from a toy config  # the language model's attention (the vision tower uses qkv)


def hybrid_prompt(topk: list[tuple[str, float]]) -> str:
    """The question with the CV model's top-K as a hint, probabilities in whole percent."""
    hint = ", ".join(f"{name} ({100 * p:.0f}%)" for name, p in topk)
    return f"{QUESTION} CV predictions: {hint}. Answer with the model name."


def chat_text(prompt: str) -> str:
    """One user turn with one image, in Qwen2.5-VL's chat format, up to the assistant's answer."""
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
            f"{prompt}<|im_end|>\n<|im_start|>assistant\n")


def answer_text(name: str) -> str:
    return f"{name}<|im_end|>"


def _token_ids(special_ids: dict[str, int]) -> dict[str, int]:
    """The config's token ids, from the tokenizer that ships with the model."""
    return dict(image_token_id=special_ids["<|image_pad|>"], video_token_id=special_ids["<|video_pad|>"],
                vision_start_token_id=special_ids["<|vision_start|>"], vision_end_token_id=special_ids["<|vision_end|>"])


def _text_token_ids(special_ids: dict[str, int]) -> dict[str, int]:
    return dict(bos_token_id=special_ids["<|endoftext|>"], eos_token_id=special_ids["<|im_end|>"],
                pad_token_id=special_ids["<|endoftext|>"])


def tiny_qwen2_5_vl_config(vocab_size: int, special_ids: dict[str, int]):
    """Qwen2.5-VL's architecture at toy size (multimodal RoPE, windowed vision attention, 2×2 merge)."""
    from transformers import Qwen2_5_VLConfig

    text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=vocab_size, max_position_embeddings=1024,
                rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}, **_text_token_ids(special_ids))
    vision = dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=4, out_hidden_size=64, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, fullatt_block_indexes=[1], window_size=56)
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **_token_ids(special_ids))


def published_qwen2_5_vl_config(name: str, layers: int | None, special_ids: dict[str, int]):
    """The published architecture of ``name`` (e.g. Qwen2.5-VL-7B-Instruct), optionally with fewer layers
    (:func:`~mmdl_lib.models.published.fewer_layers`), its token ids those of the stand-in tokenizer."""
    from transformers import Qwen2_5_VLConfig

    config = fewer_layers(published_config(name), layers)
    text = {**config["text_config"], **_text_token_ids(special_ids)}
    return Qwen2_5_VLConfig(text_config=text, vision_config=config["vision_config"],
                            tie_word_embeddings=config["tie_word_embeddings"], **_token_ids(special_ids))


def build_random_qwen2_5_vl(folder: Path, corpus: list[str], make_config, pixels: tuple[int, int] = (56 * 56, 56 * 56),
                            seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """Write a random Qwen2.5-VL (``make_config(vocab_size, special_ids)``), a byte-level BPE tokenizer
    trained on ``corpus`` with Qwen's chat tokens, and a processor resizing to ``pixels`` (min, max) into
    ``folder``: what ``from_pretrained`` reads, without a download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, Qwen2Tokenizer,
                              Qwen2VLImageProcessor, Qwen2VLVideoProcessor)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=1000, special_tokens=SPECIAL_TOKENS,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                        show_progress=False))
    folder.mkdir(parents=True, exist_ok=True)
    bpe.save(str(folder / "bpe.json"))
    tokenizer = Qwen2Tokenizer(tokenizer_file=str(folder / "bpe.json"), pad_token="<|endoftext|>",
                               eos_token="<|im_end|>")
    (folder / "bpe.json").unlink()
    processor = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=pixels[0], max_pixels=pixels[1]),
                                    tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor())
    torch.manual_seed(seed)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    model = Qwen2_5_VLForConditionalGeneration._from_config(make_config(len(tokenizer), ids), dtype=dtype)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _corpus(class_names: list[str]) -> list[str]:
    return [hybrid_prompt([(name, 0.5)]) + name for name in class_names] * 4


def cached_tiny_qwen2_5_vl(class_names: list[str], seed: int = 0) -> str:
    """The smoke profile's tiny model, its tokenizer trained on the hybrid prompts of these classes (cached)."""

    folder, _ = cached_folder("tiny_qwen2_5_vl", cache_key({"classes": class_names, "seed": seed, "v": 1}),
                              lambda f: build_random_qwen2_5_vl(f, _corpus(class_names), tiny_qwen2_5_vl_config,
                                                                seed=seed))
    return str(folder)


def cached_random_published_qwen2_5_vl(name: str, layers: int | None, class_names: list[str], seed: int = 0) -> str:
    """The full profile's VLM for its rehearsal: ``name``'s published architecture (``layers`` of its
    decoder layers and vision blocks) with random bf16 weights, a stand-in tokenizer, and the published
    processor's pixel bounds (cached)."""

    pixels = published_config(name)["image_processor"]
    folder, _ = cached_folder(
        "random_qwen2_5_vl", cache_key({"name": name, "layers": layers, "classes": class_names, "seed": seed, "v": 1}),
        lambda f: build_random_qwen2_5_vl(f, _corpus(class_names),
                                          lambda vocab, ids: published_qwen2_5_vl_config(name, layers, ids),
                                          (pixels["min_pixels"], pixels["max_pixels"]), seed, torch.bfloat16))
    return str(folder)


def vlm_checkpoint(name: str, pretrained: bool, layers: int | None, class_names: list[str],
                   seed: int = 0) -> tuple[str, dict]:
    """Where the Qwen2.5-VL checkpoint is read from (a hub name, or a folder written here) and what it is."""
    if name == TINY_QWEN2_5_VL:
        return cached_tiny_qwen2_5_vl(class_names, seed), {"model": name, "weights": "random"}
    if pretrained:
        return name, {"model": name, "weights": "pretrained"}
    folder = cached_random_published_qwen2_5_vl(name, layers, class_names, seed)
    return folder, {"model": name, "weights": "random", "layers": layers or "all",
                    "tokenizer": "stand-in byte-level BPE trained on the chapter's prompts"}


@dataclass
class QLoRASettings:
    four_bit: bool = True  # bitsandbytes NF4 + double quantisation
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    max_image_pixels: int | None = None  # the processor's resize bound (None: the checkpoint's)


def quantization_config(device: torch.device):
    """NF4 with double quantisation; compute in bf16 on CUDA, fp32 on the CPU."""
    from transformers import BitsAndBytesConfig

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype)


def load_vlm_processor(name_or_path: str | Path, max_image_pixels: int | None = None):
    """The model's processor, its image resize bounded by ``max_image_pixels`` (None: the checkpoint's)."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(str(name_or_path))
    if max_image_pixels:  # transformers 5 keeps the bounds in ``size`` (min_pixels/max_pixels are gone)
        image_processor = processor.image_processor
        image_processor.size = {"shortest_edge": min(image_processor.size["shortest_edge"], max_image_pixels),
                                "longest_edge": max_image_pixels}
    return processor


def keep_cpu_packing_to_supported_shapes(model: torch.nn.Module) -> int:
    """On CPUs with AVX512-BF16, bitsandbytes repacks a 4-bit layer's weight for its fast CPU kernel at
    the first inference call, which needs an output size divisible by 32 and an input size divisible
    by the quantisation block (64); other layers (the rehearsal's small towers) fail there. They keep
    the ordinary 4-bit path; returns how many were switched."""
    import bitsandbytes as bnb

    switched = 0
    for module in model.modules():
        if not isinstance(module, bnb.nn.Linear4bit):
            continue
        state = getattr(module.weight, "quant_state", None)
        block = getattr(state, "blocksize", 64) or 64
        if module.out_features % 32 or module.in_features % block:
            module.support_avx512bf16_for_cpu = False
            switched += 1
    return switched


def load_qlora_vlm(name_or_path: str | Path, settings: QLoRASettings, device: torch.device):
    """The model with frozen (4-bit) base weights and trainable LoRA adapters, and its processor."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import Qwen2_5_VLForConditionalGeneration

    processor = load_vlm_processor(name_or_path, settings.max_image_pixels)
    kwargs = {"device_map": {"": str(device)}}
    if settings.four_bit:
        kwargs["quantization_config"] = quantization_config(device)
    elif device.type == "cuda":
        kwargs["dtype"] = torch.bfloat16
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(name_or_path), **kwargs)
    if settings.four_bit:
        keep_cpu_packing_to_supported_shapes(model)
    lora = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                      target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft calls a transformers method that transformers 5 renamed
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        if settings.four_bit:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=device.type == "cuda")
        else:
            model.requires_grad_(False)
        return get_peft_model(model, lora), processor
