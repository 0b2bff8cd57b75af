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
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "labels": labels,
            "pixel_values": batch["pixel_values"], "image_grid_thw": batch["image_grid_thw"]}


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
