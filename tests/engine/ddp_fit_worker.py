"""Run under torchrun by ``test_distributed.py``: ``fit`` trains a small regression data-parallel.

Each rank starts from different random weights and sees its own half of the data; only gradient
averaging (and the initial broadcast) can leave both with the same weights (no ``select``: loading
rank 0's best epoch at the end would equalise them anyway). The loss calls the
model's layers one by one, not its ``forward``, as chapter 02's cached-feature loss does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from mmdl_lib import distributed
from mmdl_lib.engine import fit
from mmdl_lib.engine.trainer import one_cycle_adamw
from mmdl_lib.records import Run
from mmdl_lib.runtime import select_device

EPOCHS, BATCH, N = 8, 8, 64


def main(out: Path) -> None:
    device = select_device()  # under torchrun: joins the process group (gloo here) and picks this rank's device
    rank, world = distributed.rank(), distributed.world_size()
    torch.manual_seed(100 + rank)  # different initial replicas: DDP must start them from rank 0's
    model = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    x = torch.randn(N, 4, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    data = [{"x": x[i], "y": y[i]} for i in range(N)]
    optimizer, scheduler = one_cycle_adamw(model.parameters(), 5e-2, EPOCHS, N, BATCH)

    def loss_fn(m: torch.nn.Sequential, batch: dict) -> dict[str, torch.Tensor]:
        loss = F.mse_loss(m[2](m[1](m[0](batch["x"]))), batch["y"])
        return {"total": loss, "mse": loss}

    def evaluate(m: torch.nn.Module) -> dict[str, float]:
        return {"val_mse": float(F.mse_loss(m(x), y))}

    steps: list[dict[str, float]] = []
    history = fit(model, optimizer, loss_fn, data, epochs=EPOCHS, batch_size=BATCH, device=device,
                  seed=0, scheduler=scheduler, evaluate=evaluate, amp=False,
                  checkpoint_dir=out / "checkpoints", step_log=steps)
    run = Run.start("ddp_fit", "smoke", 0, root=out / "results")  # one folder, rank 0's
    record = run.record({"val_mse": history[-1]["val_mse"]})
    (out / f"rank{rank}.json").write_text(json.dumps({"record": str(record),
        "world_size": world, "checksum": distributed.replica_checksum(model), "history": history,
        "steps": len(steps), "means": distributed.mean_over_ranks({"z": float(rank), "a": 10.0 * rank}), "scheduler_steps": scheduler.last_epoch, "scheduler_total": scheduler.total_steps}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
