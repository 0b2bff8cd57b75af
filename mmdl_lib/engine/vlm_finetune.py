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

from ..models.qlora_vlm import answer_text, chat_text
from ..progress import tqdm

IGNORE = -100


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


def answer_batch(processor, images: list[torch.Tensor], prompts: list[str], answers: list[str]) -> dict:
    """Model inputs for each (image, prompt, answer), right-padded, labels on the answer tokens only."""
    rows, pixels, grids = [], [], []
    for image, prompt, answer in zip(images, prompts, answers):
        array = _to_uint8(image)
        prefix = processor(text=[chat_text(prompt)], images=[array], return_tensors="pt")
        full = processor(text=[chat_text(prompt) + answer_text(answer)], images=[array], return_tensors="pt")
        ids = full["input_ids"][0]
        labels = ids.clone()
        labels[: prefix["input_ids"].shape[1]] = IGNORE
        rows.append((ids, labels))
        pixels.append(full["pixel_values"])
        grids.append(full["image_grid_thw"])
    length = max(len(ids) for ids, _ in rows)
    pad = processor.tokenizer.pad_token_id
    input_ids = torch.full((len(rows), length), pad, dtype=torch.long)
    labels = torch.full((len(rows), length), IGNORE, dtype=torch.long)
    attention = torch.zeros((len(rows), length), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)], labels[i, : len(ids)], attention[i, : len(ids)] = ids, lab, 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels,
            "pixel_values": torch.cat(pixels), "image_grid_thw": torch.cat(grids)}


def _on(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


def answer_log_likelihoods(model, batch: dict) -> torch.Tensor:
    """Σ log p(answer token) per row of an :func:`answer_batch`."""
    labels = batch["labels"]
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[:, :-1].float()
    target = labels[:, 1:]
    logp = torch.log_softmax(logits, dim=-1).gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return (logp * (target != IGNORE)).sum(dim=1)


def train_answers(model, processor, images: Sequence[torch.Tensor], prompts: list[str], answers: list[str], steps: int,
                  batch_size: int, lr: float, device: torch.device, seed: int = 0) -> list[dict[str, float]]:
    """``steps`` AdamW steps on the trainable (adapter) parameters; returns the loss per step."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    log = []
    for step in tqdm(range(steps), desc="QLoRA"):
        pick = torch.randint(len(prompts), (batch_size,), generator=generator).tolist()
        batch = _on(answer_batch(processor, [images[i] for i in pick], [prompts[i] for i in pick],
                                 [answers[i] for i in pick]), device)
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"QLoRA step {step}: loss {loss.item()}")
        log.append({"step": step, "loss": float(loss.detach())})
    model.eval()
    return log


@torch.no_grad()
def score_candidates(model, processor, images: Sequence[torch.Tensor], prompts: list[str], candidates: list[list[str]],
                     device: torch.device) -> np.ndarray:
    """(n, K) answer log-likelihoods: each image's K candidate names under its prompt."""
    model.eval()
    scores = []
    for image, prompt, names in tqdm(zip(images, prompts, candidates), total=len(prompts), desc="VLM scoring"):
        batch = _on(answer_batch(processor, [image] * len(names), [prompt] * len(names), names), device)
        scores.append(answer_log_likelihoods(model, batch).float().cpu().numpy())
    return np.stack(scores)


def hybrid_probabilities(cv_probabilities: np.ndarray, candidates: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The CV model's mass on each row's candidates, shared out by softmax(VLM scores)."""
    probabilities = np.asarray(cv_probabilities, dtype=np.float64).copy()
    rows = np.arange(len(probabilities))[:, None]
    mass = probabilities[rows, candidates].sum(axis=1, keepdims=True)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities[rows, candidates] = mass * shifted / shifted.sum(axis=1, keepdims=True)
    return probabilities
