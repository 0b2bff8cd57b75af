"""Supervised fine-tuning and candidate scoring of a chat VLM on (image, prompt, answer) triples (chapter 06).

Training is next-token cross-entropy on the answer tokens only (the prompt and image tokens are
masked with −100). Classification reads the model's log-likelihood of each candidate answer: the
hybrid prompt names the CV model's top-K classes, the VLM scores those K answers, and
:func:`hybrid_probabilities` spreads the CV model's probability mass on the K candidates
according to the VLM's softmax over them (the other classes keep the CV probabilities).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ...progress import tqdm
from ...runtime import reproducible_kernels
from .qlora_vlm import answer_text, chat_text

IGNORE = -100


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


def answer_batch(processor, images: list[torch.Tensor], prompts: list[str], answers: list[str]) -> dict:
    """Model inputs for each (image, prompt, answer), right-padded, labels on the answer tokens only.

    One processor call for the whole batch (each image is processed once); the answer is the last
    tokens of its row, found from the answer's own tokenisation.
    """
    texts = [chat_text(prompt) + answer_text(answer) for prompt, answer in zip(prompts, answers)]
    batch = processor(text=texts, images=[_to_uint8(image) for image in images], padding=True, padding_side="right",
                      return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], IGNORE)
    for row, answer in enumerate(answers):
        answer_ids = processor.tokenizer(answer_text(answer), add_special_tokens=False)["input_ids"]
        end = int(batch["attention_mask"][row].sum())
        if batch["input_ids"][row, end - len(answer_ids):end].tolist() != answer_ids:
            raise ValueError(f"the answer {answer!r} does not tokenise the same at the end of its prompt")
        labels[row, end - len(answer_ids):end] = torch.tensor(answer_ids)
    # mm_token_type_ids marks the image tokens: without it Qwen2.5-VL cannot build its multimodal
    # RoPE and falls back to 1-D positions, which the pretrained model never saw
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "labels": labels,
            "pixel_values": batch["pixel_values"], "image_grid_thw": batch["image_grid_thw"],
            "mm_token_type_ids": batch["mm_token_type_ids"]}


def _on(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


def answer_token_log_probs(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(token) at each answer position of an :func:`answer_batch`, and the mask of those positions.

    The language-model head runs only from the first answer position on (``logits_to_keep``): over
    Qwen's 152k-token vocabulary, logits for the image and prompt tokens would cost more than the
    decoder layers and are never read.
    """
    labels = batch["labels"]
    start = int((labels != IGNORE).any(dim=0).nonzero()[0])  # the first column holding an answer token
    keep = labels.shape[1] - start + 1  # logits at positions start-1 … end predict tokens start … end
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}, logits_to_keep=keep).logits[:, :-1].float()
    target = labels[:, start:]
    logp = torch.log_softmax(logits, dim=-1).gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return logp, target != IGNORE


def answer_log_likelihoods(model, batch: dict) -> torch.Tensor:
    """Σ log p(answer token) per row of an :func:`answer_batch`."""
    logp, answered = answer_token_log_probs(model, batch)
    return (logp * answered).sum(dim=1)


def answer_loss(model, batch: dict) -> torch.Tensor:
    """Mean cross-entropy over the batch's answer tokens (what ``labels`` would give, without the
    prompt's logits)."""
    logp, answered = answer_token_log_probs(model, batch)
    return -(logp * answered).sum() / answered.sum()


def train_answers(model, processor, images: Sequence[torch.Tensor], prompts: list[str], answers: list[str], steps: int,
                  batch_size: int, lr: float, device: torch.device, seed: int = 0) -> list[dict[str, float]]:
    """``steps`` AdamW steps on the trainable (adapter) parameters; returns the loss per step."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    log = []
    with reproducible_kernels(device):
        for step in tqdm(range(steps), desc="QLoRA"):
            pick = torch.randint(len(prompts), (batch_size,), generator=generator).tolist()
            batch = _on(answer_batch(processor, [images[i] for i in pick], [prompts[i] for i in pick],
                                     [answers[i] for i in pick]), device)
            loss = answer_loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"QLoRA step {step}: loss {loss.item()}")
            log.append({"step": step, "loss": float(loss.detach())})
    model.eval()
    return log


def _qwen_core(model):
    """The Qwen2.5-VL model inside a (peft-wrapped) conditional-generation model: where ``get_rope_index`` is."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.model


@torch.no_grad()
def _score_batch(model, processor, images: Sequence[torch.Tensor], prompts: list[str], candidates: list[list[str]],
                 device: torch.device) -> np.ndarray:
    """(B, K) answer log-likelihoods after one pass over the B images and prompts.

    The images and prompts (hundreds of tokens each, left-padded so that they end together) go
    through the model once; their key/value cache is repeated for each image's K candidate answers
    (a few tokens each), which continue at the multimodal-RoPE position after their prompt.
    """
    prefix = processor(text=[chat_text(prompt) for prompt in prompts], images=[_to_uint8(image) for image in images],
                       padding=True, padding_side="left", return_tensors="pt")
    prefix = _on({k: prefix[k] for k in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw",
                                         "mm_token_type_ids")}, device)
    positions, _ = _qwen_core(model).get_rope_index(prefix["input_ids"], image_grid_thw=prefix["image_grid_thw"],
                                                    attention_mask=prefix["attention_mask"],
                                                    mm_token_type_ids=prefix["mm_token_type_ids"])
    out = model(**prefix, position_ids=positions, use_cache=True, logits_to_keep=1)
    k = len(candidates[0])
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1).repeat_interleave(k, dim=0)  # each answer's first token
    answers = [processor.tokenizer(answer_text(name), add_special_tokens=False)["input_ids"]
               for names in candidates for name in names]  # image-major, as the repeated cache
    length = max(map(len, answers))
    ids = torch.full((len(answers), length), processor.tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(answers), length), dtype=torch.long)
    for row, tokens in enumerate(answers):
        ids[row, :len(tokens)], mask[row, :len(tokens)] = torch.tensor(tokens), 1
    ids, mask = ids.to(device), mask.to(device)
    cache = out.past_key_values
    cache.batch_repeat_interleave(k)
    # text after a prompt: all three RoPE axes advance together from the prompt's largest position
    following = positions[:, :, -1].amax(dim=0).repeat_interleave(k).view(-1, 1) + 1 + torch.arange(length, device=device)
    attention = torch.cat([prefix["attention_mask"].repeat_interleave(k, dim=0), mask], dim=1)
    rest = model(input_ids=ids, attention_mask=attention, position_ids=following.unsqueeze(0).expand(3, -1, -1),
                 past_key_values=cache, use_cache=True).logits
    logp = torch.cat([first.unsqueeze(1), torch.log_softmax(rest[:, :-1].float(), dim=-1)], dim=1)
    token_logp = logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    return (token_logp * mask).sum(dim=1).view(len(images), k).cpu().numpy()


@torch.no_grad()
def score_candidates(model, processor, images: Sequence[torch.Tensor], prompts: list[str], candidates: list[list[str]],
                     device: torch.device, batch_size: int = 8) -> np.ndarray:
    """(n, K) answer log-likelihoods: each image's K candidate names under its prompt, ``batch_size``
    images per pass."""
    model.eval()
    if len({len(names) for names in candidates}) > 1:
        raise ValueError("every image needs the same number of candidates")
    batches = range(0, len(prompts), batch_size)
    return np.concatenate([_score_batch(model, processor, [images[j] for j in range(i, min(i + batch_size, len(prompts)))],
                                        prompts[i:i + batch_size], candidates[i:i + batch_size], device)
                           for i in tqdm(batches, desc="VLM scoring")])


def hybrid_probabilities(cv_probabilities: np.ndarray, candidates: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The CV model's mass on each row's candidates, shared out by softmax(VLM scores)."""
    probabilities = np.asarray(cv_probabilities, dtype=np.float64).copy()
    rows = np.arange(len(probabilities))[:, None]
    mass = probabilities[rows, candidates].sum(axis=1, keepdims=True)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities[rows, candidates] = mass * shifted / shifted.sum(axis=1, keepdims=True)
    return probabilities
