"""ONNX export with a dynamic batch, parity that catches a wrong graph, and the runtime table."""

import pytest
import torch

from mmdl_lib.deploy.onnx import (best_runtime, deployment_pair_cost, export_checked, export_onnx, image_model_deployment,
                                  onnx_session, parity, run_session, runtime_latency)
from mmdl_lib.errors import MMDLError


def _net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GELU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(8, 5)).eval()


def test_the_exported_graph_takes_any_batch_and_matches_pytorch(tmp_path):
    net = _net(0)
    session = onnx_session(export_onnx(net, (torch.rand(2, 3, 16, 16),), tmp_path / "net.onnx", ["images"], ["out"]))
    for batch in (1, 7):
        x = torch.rand(batch, 3, 16, 16)
        assert torch.allclose(run_session(session, x), net(x), atol=1e-5)
    report = parity(net, session, torch.rand(9, 3, 16, 16))
    assert report["min_cosine"] > 0.9999 and report["max_abs_diff"] < 1e-4 and report["rows"] == 9


def test_parity_exposes_a_graph_of_another_model(tmp_path):
    session = onnx_session(export_onnx(_net(1), (torch.rand(2, 3, 16, 16),), tmp_path / "other.onnx", ["images"],
                                       ["out"]))
    assert parity(_net(0), session, torch.rand(9, 3, 16, 16))["min_cosine"] < 0.999


def test_a_batch_of_one_example_is_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(MMDLError, match="example batch must be ≥ 2"):
        export_onnx(_net(0), (torch.rand(1, 3, 16, 16),), tmp_path / "net.onnx", ["images"], ["out"])
    assert not list(tmp_path.iterdir())


def test_runtime_table_and_the_fastest_runtime(tmp_path):
    net = _net(0)
    session = onnx_session(export_onnx(net, (torch.rand(2, 3, 16, 16),), tmp_path / "net.onnx", ["images"], ["out"]))
    table = runtime_latency(net, session, lambda b: (torch.rand(b, 3, 16, 16),), batches=(1, 4), repeats=2)
    assert set(table) == {"batch 1", "batch 4"}
    runtimes = ("PyTorch eager", "PyTorch channels-last", "onnxruntime")
    assert set(table["batch 4"]) == {f"{r}{q}" for r in runtimes for q in ("", " q1", " q3")}
    assert all(v > 0 for row in table.values() for v in row.values())
    assert all(row[f"{r} q1"] <= row[r] <= row[f"{r} q3"] for row in table.values() for r in runtimes)
    # the fastest by median; a quartile is never a runtime
    assert best_runtime({"batch 1": {"a": 3.0, "b": 1.5, "b q1": 0.1, "b q3": 9.0, "c": 2.0}}) == ("b", 1.5)
    row, fn, example = image_model_deployment(net, (16, 16), tmp_path / "deploy.onnx", repeats=2)
    assert row["params_M"] == pytest.approx(sum(p.numel() for p in net.parameters()) / 1e6)
    assert row["GFLOPs_per_image"] > 0 and row["ms_per_image_fastest"] == min(
        v for k, v in row.items() if k.startswith("ms_per_image_") and k != "ms_per_image_fastest" and " q" not in k)
    assert tuple(fn(example).shape) == (1, 5)  # the fastest runtime's call, ready to be timed again


def test_a_deployment_pair_is_timed_in_turns_with_the_ratio_s_interval(tmp_path):
    pair = deployment_pair_cost({"teacher": _net(0), "student": _net(1)}, (16, 16), tmp_path, repeats=3)
    interval = pair["latency ratio"]
    assert interval["rounds"] == 10 and interval["low"] <= interval["high"]
    for name in ("teacher", "student"):
        assert pair[name]["ms_per_image_fastest_q1"] <= pair[name]["ms_per_image_fastest"] <= pair[name][
            "ms_per_image_fastest_q3"]
    with pytest.raises(MMDLError, match="two models"):
        deployment_pair_cost({"teacher": _net(0)}, (16, 16), tmp_path)


def test_an_exported_model_is_checked_on_real_rows_and_timed_per_item(tmp_path):
    net, rows = _net(0).train(), torch.rand(6, 3, 16, 16)
    report = export_checked(net, [rows], tmp_path / "net.onnx", ["images"], ["out"], batches=(1, 4), repeats=1,
                            checked=5, per="crop")
    assert report["path"] == str(tmp_path / "net.onnx") and report["file_MB"] > 0
    assert report["parity"]["rows"] == 5 and report["parity"]["min_cosine"] > 0.9999
    assert set(report["latency_ms_per_crop_cpu"]) == {"batch 1", "batch 4"}
    assert net.training  # a copy was exported in eval mode: the caller's model is left as it was
    with pytest.raises(MMDLError, match="needs 8 input rows"):
        export_checked(net, [rows], tmp_path / "short.onnx", ["images"], ["out"], batches=(1, 8))
    assert not (tmp_path / "short.onnx").exists()
