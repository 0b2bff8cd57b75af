"""ONNX export, parity and onnxruntime latency: what a car runs (chapter 01's student, chapter 02's
grounding model; ``benchmarks/deployment_latency.py``).

:func:`export_onnx` writes a module's graph with a dynamic batch axis (torch's ``torch.export``
exporter), atomically; :func:`onnx_session` opens it in onnxruntime with every graph
optimisation on; :func:`parity` compares the two runtimes on real inputs; :func:`runtime_latency`
times PyTorch eager, eager in channels-last memory and onnxruntime on the same batches.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import MMDLError
from ..io import atomic_write
from ..metrics.cost import count_flops, count_parameters, interleaved_latency, latency_ratio


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """torch.export and onnxscript report every decomposition step; a chapter needs only errors."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(module: torch.nn.Module, example: Sequence[torch.Tensor], path: str | Path,
                input_names: Sequence[str], output_names: Sequence[str]) -> Path:
    """``module(*example)`` as an ONNX graph at ``path``, the first axis of every input dynamic (batch).

    The example's batch must be at least 2: torch.export specialises a batch of 1 to a constant.
    """
    if any(t.shape[0] < 2 for t in example):
        raise MMDLError(f"export_onnx({path}): the example batch must be ≥ 2, got {[tuple(t.shape) for t in example]}")
    module = module.eval().cpu()
    batch = torch.export.Dim("batch")
    dynamic = tuple({0: batch} for _ in example)  # by position: the graph's names need not be forward's

    def write(tmp: Path) -> None:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(module, tuple(t.cpu() for t in example), input_names=list(input_names),
                                        output_names=list(output_names), dynamic_shapes=dynamic, dynamo=True,
                                        verbose=False)
            program.save(str(tmp))

    return atomic_write(path, write)


def onnx_session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session on ``path`` with every graph optimisation (fusions, layout) enabled."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_session(session, *inputs: torch.Tensor) -> torch.Tensor:
    """The session's first output for these inputs (in the graph's input order), as a tensor."""
    feed = {spec.name: t.detach().cpu().numpy() for spec, t in zip(session.get_inputs(), inputs)}
    return torch.from_numpy(np.asarray(session.run(None, feed)[0]))


@torch.no_grad()
def parity(module: torch.nn.Module, session, *inputs: torch.Tensor) -> dict[str, float]:
    """How closely onnxruntime reproduces ``module`` on ``inputs``: the lowest per-row cosine
    similarity and the largest absolute difference of the first output."""
    reference = module.eval().cpu()(*[t.cpu() for t in inputs])
    reference = reference if isinstance(reference, torch.Tensor) else reference[0]
    exported = run_session(session, *inputs)
    if exported.shape != reference.shape:
        raise MMDLError(f"ONNX output shape {tuple(exported.shape)} differs from PyTorch's {tuple(reference.shape)}")
    ref, out = reference.float().flatten(1), exported.float().flatten(1)
    return {"min_cosine": float(F.cosine_similarity(ref, out, dim=1).min()),
            "max_abs_diff": float((ref - out).abs().max()), "rows": int(ref.shape[0])}


TimedCall = tuple[Callable[[torch.Tensor], object], torch.Tensor]


def runtime_calls(module: torch.nn.Module, session, first: torch.Tensor,
                  rest: Sequence[torch.Tensor] = ()) -> dict[str, TimedCall]:
    """Each runtime as ``(fn, example)`` on the CPU: PyTorch eager, eager in channels-last memory (a copy
    of the module, for 4-D image inputs) and onnxruntime on ``session``."""
    calls = {"PyTorch eager": (lambda x: module(x, *rest), first)}
    if first.dim() == 4:
        channels_last = copy.deepcopy(module).to(memory_format=torch.channels_last)
        calls["PyTorch channels-last"] = (lambda x: channels_last(x, *rest),
                                          first.contiguous(memory_format=torch.channels_last))
    calls["onnxruntime"] = (lambda x: run_session(session, x, *rest), first)
    return calls


@torch.no_grad()
def runtime_latency(module: torch.nn.Module, session, make_inputs: Callable[[int], tuple[torch.Tensor, ...]],
                    batches: Sequence[int] = (1, 32), repeats: int = 5) -> dict[str, dict[str, float]]:
    """Milliseconds per item on the CPU for each batch size: PyTorch eager, eager with channels-last
    images (4-D inputs), and onnxruntime, timed in turns (:func:`~mmdl_lib.metrics.cost.interleaved_latency`):
    each runtime's median, and its quartiles (``"<runtime> q1"``, ``"<runtime> q3"``) as the spread.
    ``make_inputs(batch)`` gives one call's inputs."""
    module = module.eval().cpu()
    rows: dict[str, dict[str, float]] = {}
    for batch in batches:
        inputs = make_inputs(batch)
        timed = interleaved_latency(runtime_calls(module, session, inputs[0], inputs[1:]), repeats, warmup=1)
        rows[f"batch {batch}"] = {key.replace("_q", " q"): value for name, times in timed.items()
                                  for key, value in times.summary(name).items()}
    return rows


def best_runtime(latency: dict[str, dict[str, float]], batch: str = "batch 1") -> tuple[str, float]:
    """The fastest runtime at ``batch`` (by its median) and its milliseconds per item."""
    medians = {name: ms for name, ms in latency[batch].items() if not name.endswith((" q1", " q3"))}
    name = min(medians, key=medians.get)
    return name, medians[name]


def file_megabytes(path: str | Path) -> float:
    return os.path.getsize(path) / 1e6


def export_checked(module: torch.nn.Module, inputs: Sequence[torch.Tensor], path: str | Path,
                   input_names: list[str], output_names: list[str], batches: Sequence[int] = (1, 32),
                   repeats: int = 5, checked: int = 64, per: str = "image") -> dict[str, object]:
    """A trained model exported and checked the way chapters 01 and 02 report it: the graph at
    ``path``, its size, parity with PyTorch on the first ``checked`` rows of ``inputs`` (real data),
    and milliseconds per ``per`` in each runtime at each batch (the rows cycled). ``inputs`` hold
    at least ``max(batches)`` rows; ``module`` is copied to the CPU, the caller's stays where it is."""
    rows = max(*batches, 2)
    if any(len(t) < rows for t in inputs):
        raise MMDLError(f"export_checked needs {rows} input rows (the largest batch), got {[len(t) for t in inputs]}")
    module = copy.deepcopy(module).cpu().eval()
    inputs = [t.cpu() for t in inputs]
    session = onnx_session(export_onnx(module, [t[:2] for t in inputs], path, input_names, output_names))
    checked = min(checked, min(len(t) for t in inputs))
    return {"path": str(path), "file_MB": file_megabytes(path),
            "parity": parity(module, session, *[t[:checked] for t in inputs]),
            f"latency_ms_per_{per}_cpu": runtime_latency(module, session, lambda b: tuple(t[:b] for t in inputs),
                                                         batches, repeats)}


def image_model_deployment(module: torch.nn.Module, image_size: tuple[int, int], path: str | Path,
                           batch: int = 1, repeats: int = 5) -> tuple[dict[str, float | str], Callable, torch.Tensor]:
    """What one image model costs where it is deployed: parameters, GFLOPs per image, and
    milliseconds per image at ``batch`` in each runtime (its ONNX graph written to ``path``),
    with the fastest runtime named; and that runtime's call and input, for timing it against
    another model in turns. Random weights cost the same as trained ones."""
    height, width = image_size
    module = module.eval().cpu()
    session = onnx_session(export_onnx(module, (torch.rand(2, 3, height, width),), path, ["images"], ["output"]))
    latency = runtime_latency(module, session, lambda b: (torch.rand(b, 3, height, width),), (batch,), repeats)
    best, best_ms = best_runtime(latency, f"batch {batch}")
    row = {"params_M": count_parameters(module) / 1e6,
           "GFLOPs_per_image": count_flops(module, torch.rand(2, 3, height, width)) / 1e9,
           **{f"ms_per_image_{name}": ms for name, ms in latency[f"batch {batch}"].items()},
           "fastest_runtime": best, "ms_per_image_fastest": best_ms}
    fn, example = runtime_calls(module, session, torch.rand(batch, 3, height, width))[best]
    return row, fn, example


def deployment_pair_cost(models: dict[str, torch.nn.Module], image_size: tuple[int, int], folder: str | Path,
                         batch: int = 1, repeats: int = 5) -> dict[str, dict[str, float | str]]:
    """Two image models (first a teacher, then a student) where each is deployed: every runtime timed
    (:func:`image_model_deployment`), then the two fastest timed again in turns for ``max(repeats, 10)``
    rounds, whose medians and quartiles are the rows' ``ms_per_image_fastest`` (``_q1``, ``_q3``),
    and whose paired rounds give the latency ratio its interval (row ``"latency ratio"``)."""
    if len(models) != 2:
        raise MMDLError(f"a deployment pair is two models, got {list(models)}")
    rows, calls = {}, {}
    for name, module in models.items():
        rows[name], fn, example = image_model_deployment(module, image_size, Path(folder) / f"{len(rows)}.onnx",
                                                         batch, repeats)
        calls[name] = (fn, example)
    timed = interleaved_latency(calls, max(repeats, 10), warmup=1)
    for name, times in timed.items():
        rows[name].update(times.summary("ms_per_image_fastest"))
    teacher, student = timed.values()
    rows["latency ratio"] = latency_ratio(teacher, student)
    return rows
