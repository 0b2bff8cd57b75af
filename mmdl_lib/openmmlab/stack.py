"""Make the OpenMMLab stack work here: one call, :func:`setup`, before building an mmdet3d or mmseg
model (chapters 03 and 04).

What it does, each only where it is needed, so a machine with the real op keeps it:

1. **mmcv without compiled ops** (``mmcv-lite``, or an mmcv built without ``_ext``): registers a
   stand-in ``mmcv._ext`` whose ``dynamic_voxelize_forward`` and ``nms_rotated`` are
   :mod:`mmdl_lib.openmmlab.ops`, for CPU and CUDA tensors alike (the same device-agnostic code);
   every other compiled op raises a clear error when *called* (importing ``mmcv.ops`` needs their
   names to exist).
2. **DynamicScatter**: no mmcv build has a CPU kernel, so CPU inputs go to
   :func:`mmdl_lib.openmmlab.ops.dynamic_scatter`; CUDA inputs go to mmcv's kernel where mmcv is
   compiled, else to the same stand-in (:func:`scatter_backend`).
3. **spconv without a GPU**: its backward asks CUDA for a stream even for CPU tensors; with no
   CUDA device the stream is 0 (the default), which its CPU path ignores.
   **spconv on CPU tensors**: its CPU kernels race when torch runs more than one thread: two
   identical sparse convolutions on 2 threads differ by up to ~0.5 on unit-scale outputs and miss
   the dense reference, where one thread matches it to 1e-7 (``tests/openmmlab/test_stack.py``).
   Every spconv op on CPU tensors (forward and backward) runs on one thread; CUDA tensors are untouched.
4. **KITTI evaluation without a GPU**: mmdet3d's ``kitti_eval`` computes rotated IoUs with a
   numba CUDA kernel (``rotate_iou_gpu_eval``), whose module cannot even be imported without a
   CUDA driver; without one, that module is :func:`mmdl_lib.openmmlab.ops.rotated_overlaps`. The
   rest of the evaluation (matching, AP|R11/R40, difficulties) is mmdet3d's own code.

Calling it again does nothing. :func:`op_paths` says, per op, what runs for CPU and for CUDA tensors.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.metadata as md
import importlib.util
import sys
import types
from typing import Any, Callable

import torch
from packaging.utils import canonicalize_name

from ..errors import MMDLError
from . import ops

STAND_IN_OPS = ("dynamic_voxelize_forward", "nms_rotated")
_state: dict[str, str] = {}


def require_openmmlab() -> None:
    missing = [name for name in ("mmengine", "mmcv", "mmdet") if importlib.util.find_spec(name) is None]
    if missing:
        raise MMDLError(f"the OpenMMLab stack is not installed ({', '.join(missing)} missing): "
                        "pip install -e '.[openmmlab,openmmlab-cpu]' -c constraints.txt, or openmmlab-cuda on a GPU "
                        "(README: 'OpenMMLab')")


def has_compiled_mmcv_ops() -> bool:
    """True when mmcv's own ``_ext`` extension is installed (a full mmcv build, not mmcv-lite)."""
    module = sys.modules.get("mmcv._ext")
    if module is not None:
        return not getattr(module, "MMDL_STAND_IN", False)
    return importlib.util.find_spec("mmcv") is not None and importlib.util.find_spec("mmcv._ext") is not None


def _not_compiled(name: str) -> Callable[..., Any]:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise MMDLError(f"mmcv op {name!r} needs mmcv's compiled extension, which this install lacks (mmcv-lite); "
                        f"the book provides stand-ins only for {', '.join(STAND_IN_OPS)} and DynamicScatter. Build "
                        "mmcv 2.1 with its ops from source to use this model (README: 'OpenMMLab').")
    missing.__name__ = name
    return missing


def _dynamic_voxelize_forward(points: torch.Tensor, voxel_size: torch.Tensor, coors_range: torch.Tensor,
                              coors: torch.Tensor, NDim: int = 3) -> None:  # noqa: N803 (mmcv's keyword)
    coors.copy_(ops.dynamic_voxelize(points, voxel_size, coors_range))


def _nms_rotated(dets: torch.Tensor, scores: torch.Tensor, order: torch.Tensor, dets_sorted: torch.Tensor,
                 labels: torch.Tensor, iou_threshold: float, multi_label: bool) -> torch.Tensor:
    # with multi_label mmcv appends the label as a sixth column of ``dets``
    return ops.nms_rotated_keep(dets[:, :5], scores, iou_threshold, dets[:, 5] if multi_label else None)


def stand_in_extension() -> types.ModuleType:
    """A module in place of ``mmcv._ext``: the book's stand-ins, and a clear error for any other op."""
    module = types.ModuleType("mmcv._ext", "mmdl stand-in for mmcv's compiled ops (mmdl_lib.openmmlab)")
    module.MMDL_STAND_IN = True
    # a spec without a loader: mmengine's ``mmcv_full_available`` (pkgutil.find_loader) reads "not full mmcv"
    module.__spec__ = importlib.machinery.ModuleSpec("mmcv._ext", None)
    module.dynamic_voxelize_forward = _dynamic_voxelize_forward
    module.nms_rotated = _nms_rotated
    module.get_compiler_version = lambda: "none (mmcv-lite + mmdl stand-ins)"
    module.get_compiling_cuda_version = lambda: "not available"
    module.__getattr__ = _missing_op
    return module


def _missing_op(name: str) -> Callable[..., Any]:
    if name.startswith("__"):
        raise AttributeError(name)
    return _not_compiled(name)


def scatter_backend(is_cuda: bool, compiled: bool) -> str:
    """Which DynamicScatter runs: ``"compiled"`` (mmcv's kernel) for CUDA tensors with a compiled mmcv,
    else ``"stand-in"`` (:func:`mmdl_lib.openmmlab.ops.dynamic_scatter`; mmcv has no CPU kernel)."""
    return "compiled" if is_cuda and compiled else "stand-in"


def _device_aware_dynamic_scatter(mmcv_scatter: Callable, compiled: bool) -> Callable:
    def dynamic_scatter(feats: torch.Tensor, coors: torch.Tensor, reduce_type: str = "max"):
        if scatter_backend(feats.is_cuda, compiled) == "compiled":
            return mmcv_scatter(feats, coors, reduce_type)
        return ops.dynamic_scatter(feats, coors, reduce_type)
    dynamic_scatter.mmdl_wrapped = mmcv_scatter
    return dynamic_scatter


def setup() -> dict[str, str]:
    """Apply what this machine needs (idempotent) and return :func:`op_status`."""
    require_openmmlab()
    quiet_known_third_party_warnings()
    if "mmcv._ext" not in _state:
        if has_compiled_mmcv_ops():
            _state["mmcv._ext"] = "compiled"
        else:
            sys.modules["mmcv._ext"] = stand_in_extension()
            _state["mmcv._ext"] = "stand-in"
    import mmcv.ops.scatter_points as scatter_points

    if not hasattr(scatter_points.dynamic_scatter, "mmdl_wrapped"):
        scatter_points.dynamic_scatter = _device_aware_dynamic_scatter(scatter_points.dynamic_scatter,
                                                                       _state["mmcv._ext"] == "compiled")
    if importlib.util.find_spec("spconv") is not None:
        _spconv_cpu_on_one_thread()
        if not torch.cuda.is_available():
            _patch_spconv_stream()
    if importlib.util.find_spec("mmdet3d") is not None:
        _cpu_kitti_rotated_iou()
    return op_status()


# Deprecation notices that OpenMMLab, spconv and numba raise from their own code on every run, about
# their own internals (nothing the book's calls can change); silenced one by one, by message and
# module, so that any other warning — above all the book's own — still reaches the page.
KNOWN_THIRD_PARTY_WARNINGS = (
    (r"dir_offset and dir_limit_offset will be depressed", r"mmdet3d\."),
    (r"DeprecationWarning: pos_bboxes is deprecated", r"mmdet\."),
    (r"Using a non-tuple sequence for multidimensional indexing", r"spconv\."),
    (r"torch\.meshgrid: in an upcoming release", r"torch\."),
    (r"The TBB threading layer requires TBB version", r"numba\."),
)


def quiet_known_third_party_warnings() -> None:
    import logging
    import warnings

    for message, module in KNOWN_THIRD_PARTY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)
    # torch logs (not warns), once, that is_fx_tracing's meaning changed, when chapter 03's run asks
    # it (nothing there traces with fx); that notice is the only record this logger ever emits
    logging.getLogger("torch.fx._symbolic_trace").disabled = True


ROTATE_IOU_MODULE = "mmdet3d.evaluation.functional.kitti_utils.rotate_iou"


def numba_cuda_available() -> bool:
    try:
        from numba import cuda
    except ImportError:  # numba itself missing: mmdet3d's evaluation cannot run either way
        return False
    return bool(cuda.is_available())


def _cpu_kitti_rotated_iou() -> None:
    if ROTATE_IOU_MODULE in sys.modules or numba_cuda_available():
        return  # the real module (a CUDA machine), or ours already
    module = types.ModuleType(ROTATE_IOU_MODULE, "mmdl CPU stand-in for mmdet3d's numba-CUDA rotated IoU")
    module.MMDL_STAND_IN = True
    module.rotate_iou_gpu_eval = lambda boxes, query_boxes, criterion=-1, device_id=0: ops.rotated_overlaps(
        boxes, query_boxes, criterion)
    sys.modules[ROTATE_IOU_MODULE] = module
    _state["kitti rotated IoU"] = "CPU (shapely)"


def _on_one_thread_for_cpu_tensors(op: Callable[..., Any]) -> Callable[..., Any]:
    """``op`` with torch's intra-op threads set to one while it runs, when its first tensor is on the CPU."""
    @functools.wraps(op)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        if first is None or first.is_cuda:
            return op(*args, **kwargs)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return op(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)
    wrapped.mmdl_one_thread = True
    return wrapped


def _spconv_cpu_on_one_thread() -> None:
    """Every public function of ``spconv.pytorch.ops`` (the convolutions, pooling and index pairs that
    spconv's modules and autograd functions call as ``ops.<name>``) on one thread for CPU tensors."""
    import spconv.pytorch.ops as ops

    for name, fn in list(vars(ops).items()):
        if (callable(fn) and getattr(fn, "__module__", None) == ops.__name__ and not name.startswith("_")
                and not getattr(fn, "mmdl_one_thread", False) and not isinstance(fn, type)):
            setattr(ops, name, _on_one_thread_for_cpu_tensors(fn))
    _state["spconv threads"] = "one thread on CPU tensors"


def _patch_spconv_stream() -> None:
    import spconv.pytorch.cppcore as cppcore

    if getattr(cppcore.get_current_stream, "mmdl_no_cuda", False):
        return

    def get_current_stream() -> int:
        return 0  # the default stream; spconv's CPU path does not use it
    get_current_stream.mmdl_no_cuda = True
    for name in ("spconv.pytorch.cppcore", "spconv.pytorch.ops", "spconv.pytorch.hash"):
        module = importlib.import_module(name)
        if hasattr(module, "get_current_stream"):
            module.get_current_stream = get_current_stream
    _state["spconv"] = "no-CUDA stream patch"


STAND_IN = "mmdl stand-in (PyTorch)"
COMPILED = "mmcv (compiled)"


def _spconv_distribution() -> str | None:
    """The distribution that installed the module ``spconv``: ``spconv`` (CPU build) or ``spconv-cuXXX``."""
    names = md.packages_distributions().get("spconv", [])
    return names[0] if names else None


def op_paths() -> dict[str, dict[str, str]]:
    """Per op the book's models use, what runs for CPU tensors and for CUDA tensors in this install
    (``{}`` without mmcv). An entry starting with ``none`` has no implementation."""
    if importlib.util.find_spec("mmcv") is None:
        return {}
    compiled = has_compiled_mmcv_ops()
    both = COMPILED if compiled else STAND_IN
    paths = {
        "dynamic_voxelize_forward": {"CPU": both, "CUDA": both},
        # the stand-in's IoUs are shapely polygons: boxes visit the host, the kept indices come back
        "nms_rotated": dict.fromkeys(("CPU", "CUDA"), COMPILED if compiled else "mmdl stand-in (shapely, on the host)"),
        "DynamicScatter": {device: COMPILED if scatter_backend(device == "CUDA", compiled) == "compiled" else STAND_IN
                           for device in ("CPU", "CUDA")},
    }
    if importlib.util.find_spec("mmdet3d") is not None:  # machine-wide: numba's kernel where it finds a driver
        module = sys.modules.get(ROTATE_IOU_MODULE)
        stand_in = getattr(module, "MMDL_STAND_IN", False) if module is not None else not numba_cuda_available()
        here = "mmdl stand-in (shapely)" if stand_in else "mmdet3d (numba CUDA)"
        paths["KITTI eval rotated IoU"] = {"CPU": here, "CUDA": here}
    if importlib.util.find_spec("spconv") is not None:
        distribution = _spconv_distribution() or "spconv"
        cuda_build = canonicalize_name(distribution) != "spconv"
        paths["sparse convolution"] = {
            "CPU": f"{distribution}, one thread" + ("" if torch.cuda.is_available() else ", stream patch"),
            "CUDA": distribution if cuda_build else "none in spconv's CPU build (install .[openmmlab-cuda])",
        }
    return paths


def op_table(paths: dict[str, dict[str, str]] | None = None) -> str:
    """:func:`op_paths` in one line per op: ``name: CPU … · CUDA …`` (the same on both: ``CPU/CUDA …``)."""
    lines = []
    for op, path in (op_paths() if paths is None else paths).items():
        lines.append(f"{op}: " + (f"CPU/CUDA {path['CPU']}" if path["CPU"] == path["CUDA"]
                                  else f"CPU {path['CPU']} · CUDA {path['CUDA']}"))
    return "\n".join(lines)


def op_status() -> dict[str, str]:
    """Which implementation of each op runs, in the words chapter 03's cache keys have always used
    (:func:`mmdl_lib.chapters.pseudo_lidar_kd.detector_training.cached_trained_detector` keys its
    detector by them): these strings are identifiers, kept as they were so that a cached detector
    stays valid; :func:`op_paths` is the description. ``{}`` without mmcv."""
    if importlib.util.find_spec("mmcv") is None:
        return {}
    compiled = has_compiled_mmcv_ops()
    status = {op: "compiled" if compiled else "mmdl stand-in (pure PyTorch)" for op in STAND_IN_OPS}
    status["DynamicScatter"] = ("compiled (CUDA); pure PyTorch on CPU" if compiled
                                else "pure PyTorch (CPU); no CUDA kernel without a compiled mmcv")
    if importlib.util.find_spec("mmdet3d") is not None:
        module = sys.modules.get(ROTATE_IOU_MODULE)
        stand_in = getattr(module, "MMDL_STAND_IN", False) if module is not None else not numba_cuda_available()
        status["KITTI eval rotated IoU"] = "mmdl CPU (shapely)" if stand_in else "numba CUDA (mmdet3d)"
    if importlib.util.find_spec("spconv") is not None:
        status["sparse convolution"] = "spconv" + (" (CPU: one thread, stream patch)" if not torch.cuda.is_available()
                                                   else " (CPU tensors on one thread)")
    return status
