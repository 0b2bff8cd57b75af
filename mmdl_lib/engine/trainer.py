"""``fit``: the training loop shared by every chapter.

Each epoch reseeds every random generator from ``(seed, epoch)`` and draws its shuffle from a
generator seeded the same way, so a run resumed from the checkpoint of epoch *k* reproduces
the uninterrupted run exactly (on CPU; CUDA kernels may differ in the last bits).

Under ``torchrun`` (process group up, see :mod:`mmdl_lib.distributed`) the same call trains
data-parallel: ``DistributedDataParallel`` around the loss computation, a ``DistributedSampler``
per epoch, loss means averaged over the ranks, evaluation, checkpoints and progress on rank 0.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..errors import MMDLError
from ..progress import tqdm
from ..runtime import autocast, reproducible_kernels, seed_everything
from .. import distributed
from .checkpoint import check_fingerprint, load_checkpoint, load_weights, save_checkpoint, save_weights

LossFn = Callable[[torch.nn.Module, Any], Mapping[str, torch.Tensor]]
EvalFn = Callable[[torch.nn.Module], Mapping[str, float]]


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors nested in lists, tuples and dicts to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


def one_cycle_adamw(parameters: Any, lr: float, epochs: int, n: int, batch_size: int, weight_decay: float = 0.01,
                    pct_start: float = 0.2) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW with a one-cycle schedule over ``epochs`` passes of ``n`` samples in batches of ``batch_size``
    (per process: under torchrun each rank sees its ``ceil(n / world size)`` share). ``lr`` is the peak;
    parameter groups with their own ``"lr"`` peak there (a lower rate for a pre-trained encoder)."""
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    steps = max(1, epochs * steps_per_epoch(n, batch_size))
    peaks = [group["lr"] for group in optimizer.param_groups]  # a group's own "lr" is its peak
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(optimizer, peaks, total_steps=steps, pct_start=pct_start)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps in one epoch of ``n`` samples on this process (``fit``'s loader, one rank's share)."""
    share = -(-n // distributed.world_size())
    return -(-share // batch_size)


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


class _LossModule(torch.nn.Module):
    """``loss_fn(model, batch)`` as a module's forward, so that ``DistributedDataParallel`` hooks the
    whole loss computation whatever methods of the model it calls (a frozen encoder's cached maps, a head)."""

    def __init__(self, model: torch.nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: Any) -> Mapping[str, torch.Tensor]:
        return self.loss_fn(self.model, batch)


def run_fingerprint(model: torch.nn.Module, optimizer: torch.optim.Optimizer, epochs: int, batch_size: int, seed: int,
                    settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a checkpoint must agree on to be resumed (JSON-compatible)."""
    shapes = ";".join(f"{name}:{tuple(p.shape)}" for name, p in model.state_dict().items())
    defaults = {k: v for k, v in optimizer.defaults.items() if isinstance(v, (int, float, bool, str, type(None)))}
    plain = json.loads(json.dumps(dict(settings or {}), sort_keys=True, default=str))
    return {"model": type(model).__name__, "parameters": hashlib.sha256(shapes.encode()).hexdigest()[:16],
            "optimizer": f"{type(optimizer).__name__} {json.dumps(defaults, sort_keys=True)}",
            "epochs": epochs, "batch_size": batch_size, "seed": seed, **{f"settings.{k}": v for k, v in plain.items()}}


def run_epoch(model: torch.nn.Module, loader: Any, loss_fn: LossFn, optimizer: torch.optim.Optimizer,
              device: torch.device, scheduler: Any = None, grad_clip: float | None = 1.0, amp: bool = True,
              desc: str = "epoch", step_log: list[dict[str, float]] | None = None) -> dict[str, float]:
    """One pass over ``loader``: forward, backward, clip, step. Returns the mean of every loss term;
    ``step_log`` (a list) receives every step's terms. Clipping sees the optimiser's parameters only:
    a frozen part may hold gradients left from its own training (chapter 03's teacher, trained in the
    same process), which must not shrink the step."""
    model.train()
    trained = [p for group in optimizer.param_groups for p in group["params"]]
    sums: dict[str, float] = defaultdict(float)
    count = 0
    for batch in tqdm(loader, desc=desc):
        batch = move_to_device(batch, device)
        with autocast(device, amp):
            terms = loss_fn(model, batch)
        if not torch.isfinite(terms["total"].detach()).all():
            bad = {name: float(v.detach()) for name, v in terms.items() if not torch.isfinite(v.detach()).all()}
            raise MMDLError(f"{desc}, step {count + 1}: non-finite loss {bad}; stopped before it reached the weights "
                            "(lower the learning rate, check the inputs, or disable amp)")
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(trained, grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        values = {name: float(value.detach()) for name, value in terms.items()}
        for name, value in values.items():
            sums[name] += value
        if step_log is not None:
            step_log.append(values)
        count += 1
    return {name: total / max(count, 1) for name, total in sums.items()}


def _step_function(model: torch.nn.Module, loss_fn: LossFn, device: torch.device) -> LossFn:
    """``loss_fn`` itself in one process; under torchrun the loss computation wrapped in
    ``DistributedDataParallel`` (which broadcasts rank 0's weights now and averages gradients in backward)."""
    if not distributed.is_distributed():
        return loss_fn
    wrapped = DistributedDataParallel(_LossModule(model, loss_fn),
                                      device_ids=[device.index] if device.type == "cuda" else None,
                                      find_unused_parameters=True)  # a loss may leave some terms' branches out
    return lambda _model, batch: wrapped(batch)


def _epoch_loader(data: Dataset, batch_size: int, collate_fn: Callable | None, epoch_seed: int) -> DataLoader:
    """A shuffled loader whose order depends only on ``epoch_seed``: resumed runs repeat it exactly;
    under torchrun every rank draws its disjoint share of the same permutation."""
    if distributed.is_distributed():
        sampler = DistributedSampler(data, distributed.world_size(), distributed.rank(), shuffle=True,
                                     seed=epoch_seed)
        return DataLoader(data, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn)
    return DataLoader(data, batch_size=batch_size, shuffle=True, collate_fn=collate_fn,
                      generator=torch.Generator().manual_seed(epoch_seed))


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    train_data: Dataset,
    *,
    epochs: int,
    batch_size: int,
    device: torch.device,
    seed: int = 0,
    collate_fn: Callable | None = None,
    scheduler: Any = None,
    grad_clip: float | None = 1.0,
    evaluate: EvalFn | None = None,
    select: tuple[str, str] | None = None,
    checkpoint_dir: str | Path | None = None,
    amp: bool = True,
    desc: str = "train",
    settings: Mapping[str, Any] | None = None,
    step_log: list[dict[str, float]] | None = None,
    deterministic: bool = True,
) -> list[dict[str, float]]:
    """Train ``model`` for ``epochs`` epochs and return one history row per epoch.

    ``loss_fn(model, batch)`` returns a dict of loss terms with ``"total"`` the one to minimise;
    every term is averaged over the epoch and logged. ``evaluate(model)`` runs after each epoch
    and its metrics join the row. ``select=("val_ap50", "max")`` keeps the best epoch's weights
    (as ``best.safetensors`` in ``checkpoint_dir``, else in memory) and loads them back at the end.
    ``scheduler`` is stepped after every optimiser step; ``step_log`` (a list) receives every step's
    loss terms, for plots finer than the epoch means.
    With ``checkpoint_dir`` set, every epoch is checkpointed and a new call resumes from the last one,
    provided it trains the same thing: the model's parameter shapes, the optimiser, epochs, batch
    size, seed and the caller's ``settings`` (a chapter's config) form a fingerprint that must match.
    On the CPU it trains with torch's deterministic kernels unless ``deterministic=False``
    (:func:`~mmdl_lib.runtime.reproducible_kernels`): one seed, one model, on any thread count.

    Under ``torchrun`` ``batch_size`` is per process and ``device`` this rank's
    (:func:`~mmdl_lib.distributed.local_device`); ``checkpoint_dir`` must be shared by the
    ranks. ``step_log`` holds this rank's steps; the history's loss means are over every rank.
    """
    model.to(device)
    main = distributed.is_main_process()
    history: list[dict[str, float]] = []
    best: float | None = None
    best_state: dict[str, torch.Tensor] | None = None
    start = 0
    fingerprint = run_fingerprint(model, optimizer, epochs, batch_size, seed, settings)
    if checkpoint_dir is not None:
        state = load_checkpoint(checkpoint_dir, model, optimizer, scheduler)
        if state is not None:
            check_fingerprint(checkpoint_dir, state.get("fingerprint"), fingerprint)
            start, history, best = state["epoch"], state["history"], state.get("best")
    step_fn = _step_function(model, loss_fn, device)
    for epoch in tqdm(range(start, epochs), desc=desc, initial=start, total=epochs):
        # each rank its own augmentation and dropout draws; rank 0 as a single process
        seed_everything(_epoch_seed(seed, epoch) + 7919 * distributed.rank())
        loader = _epoch_loader(train_data, batch_size, collate_fn, _epoch_seed(seed, epoch))
        with reproducible_kernels(device, deterministic):
            means = run_epoch(model, loader, step_fn, optimizer, device, scheduler=scheduler, grad_clip=grad_clip,
                              amp=amp, desc=f"epoch {epoch + 1}/{epochs}", step_log=step_log)
        row: dict[str, float] = {"epoch": epoch + 1,
                                 **{f"loss_{k}": v for k, v in distributed.mean_over_ranks(means).items()}}
        if evaluate is not None:
            if main:
                model.eval()
                with torch.no_grad():
                    row.update({k: float(v) for k, v in evaluate(model).items()})
            row = distributed.broadcast_object(row)  # every rank takes the same model choice
        history.append(row)
        if select is not None:
            key, mode = select
            value = row[key]
            if best is None or (value > best if mode == "max" else value < best):
                best = value
                if checkpoint_dir is None:
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                elif main:
                    save_weights(model, Path(checkpoint_dir) / "best.safetensors")
        if checkpoint_dir is not None and main:
            save_checkpoint(checkpoint_dir, epoch + 1, model, optimizer, scheduler,
                            {"history": history, "best": best, "fingerprint": fingerprint})
        distributed.barrier()  # the other ranks read rank 0's files only once they are complete
    if select is not None and checkpoint_dir is not None and (Path(checkpoint_dir) / "best.safetensors").exists():
        load_weights(model, Path(checkpoint_dir) / "best.safetensors")
    elif best_state is not None:
        model.load_state_dict(best_state)
    optimizer.zero_grad(set_to_none=True)  # a trained model carries no gradients into later use
    model.eval()
    return history
