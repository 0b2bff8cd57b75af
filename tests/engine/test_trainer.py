import json

import pytest
import torch
from torch.utils.data import TensorDataset

import mmdl_lib.engine.trainer as trainer
from mmdl_lib.engine import fit, load_checkpoint, load_weights, save_weights
from mmdl_lib.errors import CheckpointError


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g)
    y = x @ torch.randn(5, 1, generator=g) + 0.1 * torch.randn(64, 1, generator=g)
    return TensorDataset(x, y)


def _model_and_optimizer():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Dropout(0.2), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    return model, torch.optim.AdamW(model.parameters(), lr=1e-2)


def _loss(model, batch):
    x, y = batch
    return {"total": torch.nn.functional.mse_loss(model(x), y)}


def _train(epochs, ckpt, fail_at_step=None):
    model, opt = _model_and_optimizer()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.5)
    steps = {"n": 0}

    def loss(model, batch):
        steps["n"] += 1
        if steps["n"] == fail_at_step:
            raise KeyboardInterrupt("simulated interrupt")
        return _loss(model, batch)

    history = fit(model, opt, loss, _problem(), epochs=epochs, batch_size=8, device=torch.device("cpu"), seed=3,
                  scheduler=sched, evaluate=lambda m: {"val": 0.0}, checkpoint_dir=ckpt)
    return model, history


def test_training_reduces_loss(tmp_path):
    _, history = _train(6, tmp_path / "ckpt")
    assert history[-1]["loss_total"] < 0.5 * history[0]["loss_total"]


def test_resume_after_interrupt_gives_identical_weights(tmp_path):
    straight, history = _train(6, tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        _train(6, tmp_path / "b", fail_at_step=3 * 8 + 5)  # 8 steps an epoch: dies inside epoch 4
    assert json.loads((tmp_path / "b" / "latest.json").read_text())["epoch"] == 3
    resumed, resumed_history = _train(6, tmp_path / "b")
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert [r["loss_total"] for r in history] == [r["loss_total"] for r in resumed_history]


def test_corrupted_checkpoint_is_reported(tmp_path):
    _train(2, tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "epoch_0002" / "model.safetensors"
    weights.write_bytes(b"not a safetensors file")
    model, opt = _model_and_optimizer()
    with pytest.raises(CheckpointError, match="epoch_0002/model.safetensors"):
        load_checkpoint(tmp_path / "ckpt", model, opt)


def test_corrupted_checkpoint_pointer_is_reported(tmp_path):
    _train(1, tmp_path / "ckpt")
    (tmp_path / "ckpt" / "latest.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="latest.json"):
        load_checkpoint(tmp_path / "ckpt", *_model_and_optimizer())


def test_weights_round_trip_and_missing_file(tmp_path):
    model, _ = _model_and_optimizer()
    save_weights(model, tmp_path / "w.safetensors")
    other = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Dropout(0.2), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    load_weights(other, tmp_path / "w.safetensors")
    assert torch.equal(other[0].weight, model[0].weight)
    with pytest.raises(CheckpointError, match="not found"):
        load_weights(other, tmp_path / "missing.safetensors")


def test_a_checkpoint_of_other_settings_is_refused_not_continued(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _train(6, tmp_path / "ckpt", fail_at_step=20)
    model, opt = _model_and_optimizer()
    with pytest.raises(CheckpointError, match=r"ckpt: the checkpoint was written by a run with other settings "
                                              r"\(batch_size: 8 → 16"):
        fit(model, opt, _loss, _problem(), epochs=6, batch_size=16, device=torch.device("cpu"), seed=3,
            checkpoint_dir=tmp_path / "ckpt")
    model, opt = _model_and_optimizer()
    with pytest.raises(CheckpointError, match=r"settings.lr: None → 0.02"):
        fit(model, opt, _loss, _problem(), epochs=6, batch_size=8, device=torch.device("cpu"), seed=3,
            checkpoint_dir=tmp_path / "ckpt", settings={"lr": 0.02})


@pytest.mark.parametrize("damage, message", [
    (lambda ckpt: (ckpt / "optimizer.pt").write_bytes(b"\x80\x04garbage"), "optimizer.pt: cannot read"),
    (lambda ckpt: (ckpt / "optimizer.pt").write_bytes(b""), "optimizer.pt: cannot read"),
    (lambda ckpt: (ckpt / "state.json").write_text("[1, 2]"), "corrupt checkpoint state"),
    (lambda ckpt: (ckpt / "state.json").write_text('{"epoch": null}'), "corrupt checkpoint state"),
])
def test_a_damaged_checkpoint_names_its_folder(tmp_path, damage, message):
    _train(1, tmp_path / "ckpt")
    damage(tmp_path / "ckpt" / "epoch_0001")
    with pytest.raises(CheckpointError, match=f"epoch_0001.*({message})"):
        load_checkpoint(tmp_path / "ckpt", *_model_and_optimizer())


def test_weights_of_another_shape_name_the_file(tmp_path):
    model, _ = _model_and_optimizer()
    save_weights(model, tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="w.safetensors: cannot load weights"):
        load_weights(torch.nn.Sequential(torch.nn.Linear(5, 8)), tmp_path / "w.safetensors")


def test_a_non_finite_loss_stops_training_before_it_reaches_the_weights():
    from mmdl_lib.errors import MMDLError

    model, opt = _model_and_optimizer()
    before = [p.detach().clone() for p in model.parameters()]
    calls = {"n": 0}

    def loss(model, batch):
        calls["n"] += 1
        terms = _loss(model, batch)
        return {"total": terms["total"] * (float("nan") if calls["n"] == 1 else 1.0), "mse": terms["total"]}

    with pytest.raises(MMDLError, match=r"step 1: non-finite loss \{'total': nan\}"):
        fit(model, opt, loss, _problem(), epochs=1, batch_size=8, device=torch.device("cpu"), amp=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("deterministic, device, expected", [(None, "cpu", True), (False, "cpu", False),
                                                             (None, "meta", False)])
def test_deterministic_kernels_by_default_on_the_cpu_only(deterministic, device, expected, monkeypatch):
    seen = []
    record = lambda *args, **kwargs: seen.append(torch.are_deterministic_algorithms_enabled()) or {}
    monkeypatch.setattr(trainer, "run_epoch", record)
    model, opt = _model_and_optimizer()
    asked = {} if deterministic is None else {"deterministic": deterministic}
    fit(model, opt, _loss, _problem(), epochs=2, batch_size=8, device=torch.device(device), **asked)
    assert seen == [expected, expected]
    assert not torch.are_deterministic_algorithms_enabled()  # and only inside


def test_a_frozen_parameters_old_gradient_neither_clips_the_step_nor_survives_training():
    def train(stale: bool):
        model, opt = _model_and_optimizer()
        model.frozen = torch.nn.Parameter(torch.zeros(3), requires_grad=False)  # outside the optimiser
        if stale:
            model.frozen.grad = torch.full((3,), 1e6)  # e.g. left from the frozen part's own training
        fit(model, opt, _loss, _problem(), epochs=2, batch_size=8, device=torch.device("cpu"), seed=3)
        return model

    clean, stale = train(False), train(True)
    assert all(torch.equal(a, b) for a, b in zip(clean.parameters(), stale.parameters()))
    assert all(p.grad is None for p in clean.parameters() if p.requires_grad)


def test_an_index_backward_trains_the_same_model_twice_on_two_threads():
    """x[idx]'s backward accumulates in thread order on the CPU unless fit's deterministic kernels run
    (chapter 02's head picks each command's token box this way)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        def train_once():
            torch.manual_seed(0)
            table = torch.nn.Embedding(8, 64)
            data = torch.utils.data.TensorDataset(torch.randint(0, 8, (512, 256)), torch.randn(512, 64))
            opt = torch.optim.SGD(table.parameters(), lr=0.1)
            loss = lambda m, b: {"total": ((m.weight[b[0]].mean(1) - b[1]) ** 2).mean()}
            fit(table, opt, loss, data, epochs=2, batch_size=128, device=torch.device("cpu"), amp=False)
            return table.weight.detach().clone()

        assert torch.equal(train_once(), train_once())
    finally:
        torch.set_num_threads(threads)
