"""The engine's data-parallel path: single-process identities, and ``fit`` plus a run record in two
gloo processes under torchrun."""

import json
from pathlib import Path

import torch

from mmdl_lib import distributed
from mmdl_lib.engine.trainer import steps_per_epoch
from tests.torchrun import ROOT, torchrun


def test_without_torchrun_every_helper_is_the_single_process_identity():
    assert (distributed.init_from_env(), distributed.is_main_process()) == ((0, 1), True)
    assert distributed.mean_over_ranks({"loss": 2.5}) == {"loss": 2.5}
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}
    assert steps_per_epoch(65, 8) == 9


def test_replica_checksum_tells_different_weights_apart():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert distributed.replica_checksum(a) == distributed.replica_checksum(b)
    with torch.no_grad():
        b.bias[0] += 1e-6
    assert distributed.replica_checksum(a) != distributed.replica_checksum(b)


def test_fit_in_two_gloo_processes_keeps_the_replicas_identical_and_learns(tmp_path):
    done = torchrun(str(ROOT / "tests" / "engine" / "ddp_fit_worker.py"), str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    # different starting weights, different halves of the data: equal only if gradients were averaged
    assert ranks[0]["checksum"] == ranks[1]["checksum"]
    # each rank took its share of the steps (64 samples / 2 ranks / batch 8 = 4 an epoch, 8 epochs), and the
    # one-cycle schedule was sized for that share
    assert [r["steps"] for r in ranks] == [32, 32]
    assert ranks[0]["scheduler_steps"] == ranks[0]["scheduler_total"] == 32
    # the loss means are over both ranks and the evaluation is rank 0's, so the histories agree
    assert ranks[0]["history"] == ranks[1]["history"]
    assert [list(r["means"].items()) for r in ranks] == [[("z", 0.5), ("a", 5.0)]] * 2  # the caller's key order
    history = ranks[0]["history"]
    assert history[-1]["val_mse"] < 0.5 * history[0]["val_mse"]
    # only rank 0 wrote: every epoch's checkpoint, and one run record in one run folder for both ranks
    assert ranks[0]["record"] == ranks[1]["record"]
    assert [p.name for p in (tmp_path / "results" / "ddp_fit").iterdir()] == [Path(ranks[0]["record"]).parent.name]
    assert json.loads(Path(ranks[0]["record"]).read_text())["metrics"]["val_mse"] == history[-1]["val_mse"]
    latest = json.loads((tmp_path / "checkpoints" / "latest.json").read_text())
    assert latest["epoch"] == 8
