"""WGAN-GP training with an autoencoder term (chapter 05's token compressor; seed 002).

For every generator step (compressor + decoder) the critic takes ``n_critic`` steps, each on a
batch drawn at random (Gulrajani et al., Algorithm 1). The critic minimises
E[D(fake)] − E[D(real)] + λ·GP; the generator minimises ``w_adv``·(−E[D(fake)]) + ``w_ae``·AE.
Fake samples are the compressed grids (B, D, m, m); real samples are original tokens, one drawn at
random from each block, so they have the fake grid's shape (the gradient penalty interpolates
between the two) and the critic costs the same on both, whatever the compression. One epoch is
one pass of the generator over the training tokens; epochs are checkpointed (with the per-step
log) and a new call resumes from the last one, seeded so the result is the same.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ...engine.checkpoint import check_fingerprint, load_checkpoint, save_checkpoint
from ...engine.trainer import _epoch_seed, run_fingerprint
from ...progress import tqdm
from ...runtime import autocast, reproducible_kernels, seed_everything
from .losses import ReconstructionLoss, critic_loss, generator_adversarial_loss, gradient_penalty


@dataclass(frozen=True, kw_only=True)
class WGANSettings:
    """The WGAN-GP loop's settings, named as chapter 05's config names them (:meth:`from_config`);
    keyword-only, so that no two of them can be swapped by position."""

    epochs: int = 100
    batch_size: int = 32
    n_critic: int = 5
    lambda_gp: float = 10.0
    w_wgan: float = 1.0  # the adversarial term's weight
    w_ae: float = 1.0
    lr: float = 1e-4
    critic_lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    mixed_precision: bool = True  # bf16 autocast on CUDA; the gradient penalty is always computed in fp32
    adaptive_weight: bool = True  # balance the adversarial gradient against the reconstruction's (VQGAN)

    @classmethod
    def from_config(cls, config: Any) -> "WGANSettings":
        """The settings from any config that has fields of these names (chapter 05's): those it lacks keep
        their defaults."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls) if hasattr(config, f.name)})


@dataclass
class WGANResult:
    history: list[dict[str, float]]
    steps: dict[str, int] = field(default_factory=dict)  # {"critic": …, "generator": …} in this call
    step_log: list[dict[str, float]] = field(default_factory=list)  # every generator step's terms


class OptimizerPair:
    """Generator and critic optimisers saved and restored as one (the checkpoint's optimizer)."""

    def __init__(self, generator: torch.optim.Optimizer, critic: torch.optim.Optimizer):
        self.generator, self.critic = generator, critic
        self.defaults = {"generator_lr": generator.defaults["lr"], "critic_lr": critic.defaults["lr"]}

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.state_dict(), "critic": self.critic.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])


def block_samples(tokens: torch.Tensor, output_grid: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One original token drawn at random from each block: (B, D, G, G) → (B, D, m, m)."""
    b, d, g, _ = tokens.shape
    r = g // output_grid
    offsets = torch.randint(0, r, (2, b, 1, output_grid, output_grid), generator=generator).to(tokens.device)
    base = torch.arange(output_grid, device=tokens.device) * r
    rows = (base.view(1, 1, -1, 1) + offsets[0]).expand(b, 1, output_grid, output_grid)
    cols = (base.view(1, 1, 1, -1) + offsets[1]).expand(b, 1, output_grid, output_grid)
    flat = tokens.flatten(2)
    index = (rows * g + cols).flatten(2).expand(b, d, -1)
    return flat.gather(2, index).reshape(b, d, output_grid, output_grid)


def adaptive_weight(reconstruction: torch.Tensor, adversarial: torch.Tensor, parameter: torch.Tensor,
                    limit: float = 1e4) -> torch.Tensor:
    """‖∇ reconstruction‖ / ‖∇ adversarial‖ at the generator's last layer (Esser et al. 2021, VQGAN).

    A Wasserstein critic is 1-Lipschitz per sample, while a mean-squared error is averaged over
    every element, so without it the adversarial gradient is orders of magnitude larger and the
    loss weights say nothing; with it ``w_adv = w_ae = 1`` means equal gradient norms there.
    """
    (rec,) = torch.autograd.grad(reconstruction, parameter, retain_graph=True)
    (adv,) = torch.autograd.grad(adversarial, parameter, retain_graph=True)
    return (rec.norm() / (adv.norm() + 1e-8)).clamp(max=limit).detach()


def _critic_step(model: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer, real: torch.Tensor,
                 settings: WGANSettings, device: torch.device, generator: torch.Generator) -> dict[str, float]:
    with torch.no_grad(), autocast(device, settings.mixed_precision):
        fake = model.compress(real)
    fake, real = fake.float(), block_samples(real, fake.shape[-1], generator)
    with autocast(device, settings.mixed_precision):
        real_scores, fake_scores = critic(real), critic(fake)
    penalty = gradient_penalty(critic, real, fake)
    loss = critic_loss(real_scores.float(), fake_scores.float()) + settings.lambda_gp * penalty
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"critic_loss": float(loss.detach()), "gradient_penalty": float(penalty.detach()),
            "wasserstein": float((real_scores.mean() - fake_scores.mean()).detach())}


def _generator_step(model: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer, real: torch.Tensor,
                    settings: WGANSettings, reconstruction: ReconstructionLoss, device: torch.device) -> dict[str, float]:
    critic.requires_grad_(False)
    with autocast(device, settings.mixed_precision):
        compressed, recon = model(real)
        adversarial = generator_adversarial_loss(critic(compressed).float())
    ae = reconstruction(recon.float(), real)
    balance = (adaptive_weight(ae["total"], adversarial, model.balance_parameter())
               if settings.adaptive_weight and settings.w_wgan else 1.0)
    total = settings.w_wgan * balance * adversarial + settings.w_ae * ae["total"]
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    critic.requires_grad_(True)
    return {"generator_loss": float(total.detach()), "adversarial": float(adversarial.detach()),
            "adaptive_weight": float(balance),
            **{f"ae_{k}": float(v.detach()) for k, v in ae.items()}}


def fit_wgan_gp(model: nn.Module, critic: nn.Module, tokens: Any, settings: WGANSettings,
                reconstruction: ReconstructionLoss, device: torch.device, *, seed: int = 0,
                transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                evaluate: Callable[[nn.Module, nn.Module], Mapping[str, float]] | None = None,
                checkpoint_dir: str | Path | None = None, run_settings: Mapping[str, Any] | None = None,
                desc: str = "wgan-gp") -> WGANResult:
    """Train ``model`` (``compress(x)`` and ``model(x) → (compressed, reconstruction)``) against
    ``critic``; one history row per epoch.

    ``tokens[index]`` gives a batch (N, D, G, G): a tensor, or a memory-mapped ``TokenSet`` that is
    read batch by batch; ``transform`` (the model's standardisation) is applied to each batch on
    ``device``.
    """
    prepare = transform or (lambda x: x)
    model.to(device)
    critic.to(device)
    generator_opt = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=settings.betas)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=settings.critic_lr, betas=settings.betas)
    pair, both = OptimizerPair(generator_opt, critic_opt), nn.ModuleDict({"model": model, "critic": critic})
    fingerprint = run_fingerprint(both, pair, settings.epochs, settings.batch_size, seed,
                                  {**(run_settings or {}), "wgan": asdict(settings)})
    result, start = WGANResult([], {"critic": 0, "generator": 0}), 0
    if checkpoint_dir is not None:
        state = load_checkpoint(checkpoint_dir, both, pair)
        if state is not None:
            check_fingerprint(checkpoint_dir, state.get("fingerprint"), fingerprint)
            start, result.history, result.step_log = state["epoch"], state["history"], state.get("step_log", [])
    n = len(tokens)
    for epoch in tqdm(range(start, settings.epochs), desc=desc, initial=start, total=settings.epochs):
        seed_everything(_epoch_seed(seed, epoch))
        draw = torch.Generator().manual_seed(_epoch_seed(seed, epoch))
        order = torch.randperm(n, generator=draw)
        model.train()
        critic.train()
        sums: dict[str, float] = defaultdict(float)
        batches = list(order.split(settings.batch_size))
        with reproducible_kernels(device):  # one seed, one compressor on any CPU thread count
            for i, batch in enumerate(batches):
                step: dict[str, float] = defaultdict(float)
                for _ in range(settings.n_critic):
                    pick = torch.randint(0, n, (settings.batch_size,), generator=draw)
                    terms = _critic_step(model, critic, critic_opt, prepare(tokens[pick].to(device)), settings, device,
                                         draw)
                    result.steps["critic"] += 1
                    for k, v in terms.items():
                        step[k] += v / settings.n_critic
                step.update(_generator_step(model, critic, generator_opt, prepare(tokens[batch].to(device)), settings,
                                            reconstruction, device))
                result.steps["generator"] += 1
                for k, v in step.items():
                    sums[k] += v
                result.step_log.append({"epoch": epoch + (i + 1) / len(batches), **step})
        row = {"epoch": epoch + 1, **{k: v / len(batches) for k, v in sums.items()}}
        if evaluate is not None:
            model.eval()
            critic.eval()
            with torch.no_grad():
                row.update({k: float(v) for k, v in evaluate(model, critic).items()})
        result.history.append(row)
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, epoch + 1, both, pair,
                            state={"history": result.history, "step_log": result.step_log, "fingerprint": fingerprint})
    model.eval()
    critic.eval()
    return result
