"""mmdl_lib.openmmlab.setup: stand-ins only where the compiled op is absent, idempotent, clear errors."""

import sys

import pytest
import torch

from mmdl_lib.errors import MMDLError
from mmdl_lib.openmmlab import op_status, setup, stack
from mmdl_lib.openmmlab.ops import dynamic_scatter

from .test_ops import OnCuda


def test_setup_is_idempotent_and_reports_every_op():
    first = setup()
    module = sys.modules["mmcv._ext"]
    import mmcv.ops.scatter_points as scatter_points

    wrapped = scatter_points.dynamic_scatter
    assert setup() == first and sys.modules["mmcv._ext"] is module and scatter_points.dynamic_scatter is wrapped
    assert set(first) >= {"dynamic_voxelize_forward", "nms_rotated", "DynamicScatter"}
    expected = "compiled" if stack.has_compiled_mmcv_ops() else "mmdl stand-in (pure PyTorch)"
    assert first["nms_rotated"] == expected == op_status()["dynamic_voxelize_forward"]


def test_a_compiled_mmcv_keeps_its_own_extension(monkeypatch):
    """On a machine with mmcv's compiled ``_ext``, setup registers no stand-in."""
    monkeypatch.setattr(stack, "_state", {})
    monkeypatch.setattr(stack, "has_compiled_mmcv_ops", lambda: True)
    sentinel = object()
    monkeypatch.setitem(sys.modules, "mmcv._ext", sentinel)
    assert setup()["nms_rotated"] == "compiled" and sys.modules["mmcv._ext"] is sentinel


def test_an_op_without_a_stand_in_names_itself_when_called():
    ext = stack.stand_in_extension()
    assert hasattr(ext, "roi_align_forward")  # importing mmcv.ops needs every name to exist
    with pytest.raises(MMDLError, match="'roi_align_forward' needs mmcv's compiled extension"):
        ext.roi_align_forward(torch.zeros(1))
    with pytest.raises(AttributeError):
        ext.__path__  # noqa: B018 — not a package


@pytest.mark.parametrize(("is_cuda", "compiled", "backend"), [(False, False, "stand-in"), (True, False, "stand-in"),
                                                              (False, True, "stand-in"), (True, True, "compiled")])
def test_dynamic_scatter_uses_mmcv_kernel_only_for_cuda_tensors_with_a_compiled_mmcv(is_cuda, compiled, backend):
    """mmcv has no CPU kernel; without a compiled mmcv, CUDA tensors take the stand-in too."""
    assert stack.scatter_backend(is_cuda, compiled) == backend
    calls = []
    wrapped = stack._device_aware_dynamic_scatter(lambda *args: calls.append(args) or "mmcv", compiled)
    feats, coors = torch.randn(20, 4), torch.randint(0, 3, (20, 3), dtype=torch.int32)
    if is_cuda:
        feats, coors = feats.as_subclass(OnCuda), coors.as_subclass(OnCuda)
    got = wrapped(feats, coors, "mean")
    if backend == "compiled":
        assert got == "mmcv" and len(calls) == 1
    else:
        expected = dynamic_scatter(feats.as_subclass(torch.Tensor), coors.as_subclass(torch.Tensor), "mean")
        assert not calls and all(torch.equal(g.as_subclass(torch.Tensor), e) for g, e in zip(got, expected))


def test_mmcv_dynamic_scatter_takes_the_stand_in_for_cuda_tensors_without_a_compiled_mmcv():
    """mmcv's own DynamicScatter module, called with tensors that report CUDA, reaches the stand-in."""
    setup()
    if stack.has_compiled_mmcv_ops():
        pytest.skip("a compiled mmcv runs its own CUDA kernel")
    from mmcv.ops import DynamicScatter

    feats, coors = torch.randn(50, 4), torch.randint(0, 3, (50, 3), dtype=torch.int32)
    voxel_feats, voxel_coors = DynamicScatter([1, 1, 1], [0, 0, 0, 3, 3, 3], average_points=False)(
        feats.as_subclass(OnCuda), coors.as_subclass(OnCuda))
    reference, reference_coors = dynamic_scatter(feats, coors, "max")
    assert isinstance(voxel_feats, OnCuda)
    assert torch.equal(voxel_coors.as_subclass(torch.Tensor), reference_coors)
    assert torch.equal(voxel_feats.as_subclass(torch.Tensor), reference)


@pytest.mark.parametrize("compiled", [False, True])
def test_every_op_has_a_path_on_cpu_and_cuda(monkeypatch, compiled):
    """With the CUDA build of spconv (environment.yml), no op lacks an implementation on either device;
    with the CPU build, only sparse convolution does, and says what to install."""
    monkeypatch.setattr(stack, "has_compiled_mmcv_ops", lambda: compiled)
    monkeypatch.setattr(stack, "_spconv_distribution", lambda: "spconv-cu126")
    paths = stack.op_paths()
    assert set(paths) >= {"dynamic_voxelize_forward", "nms_rotated", "DynamicScatter", "sparse convolution"}
    for op, path in paths.items():
        assert set(path) == {"CPU", "CUDA"}, op
        assert not any(p.startswith("none") or "no CUDA" in p for p in path.values()), (op, path)
    assert paths["DynamicScatter"] == {"CPU": stack.STAND_IN, "CUDA": stack.COMPILED if compiled else stack.STAND_IN}
    assert paths["sparse convolution"]["CUDA"] == "spconv-cu126"
    monkeypatch.setattr(stack, "_spconv_distribution", lambda: "spconv")
    assert stack.op_paths()["sparse convolution"]["CUDA"].startswith("none in spconv's CPU build")
    table = stack.op_table()
    assert table.splitlines()[0].startswith("dynamic_voxelize_forward: CPU/CUDA ")


def test_op_status_keeps_the_words_of_chapter_03s_cache_keys(monkeypatch):
    """Chapter 03 (detector_training) keys the cached detector by op_status(): these strings may not change."""
    monkeypatch.setattr(stack, "has_compiled_mmcv_ops", lambda: False)
    status = stack.op_status()
    assert status["dynamic_voxelize_forward"] == status["nms_rotated"] == "mmdl stand-in (pure PyTorch)"
    assert status["DynamicScatter"] == "pure PyTorch (CPU); no CUDA kernel without a compiled mmcv"


def test_mmcv_dynamic_scatter_runs_on_cpu_tensors_through_the_fallback():
    setup()
    from mmcv.ops import DynamicScatter

    feats = torch.randn(50, 4, requires_grad=True)
    coors = torch.randint(0, 3, (50, 3), dtype=torch.int32)
    voxel_feats, voxel_coors = DynamicScatter([1, 1, 1], [0, 0, 0, 3, 3, 3], average_points=True)(feats, coors)
    reference, reference_coors = dynamic_scatter(feats, coors, "mean")
    assert torch.equal(voxel_coors, reference_coors) and torch.allclose(voxel_feats, reference)
    voxel_feats.sum().backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0


def test_spconv_runs_backward_without_cuda():
    setup()
    import spconv.pytorch as spconv

    conv = spconv.SubMConv3d(2, 3, 3, indice_key="a")
    indices = torch.tensor([[0, 1, 1, 1], [0, 1, 2, 1], [0, 2, 2, 2]], dtype=torch.int32)
    x = spconv.SparseConvTensor(torch.randn(3, 2, requires_grad=True), indices, [4, 4, 4], 1)
    conv(x).features.sum().backward()
    assert conv.weight.grad is not None


def test_spconv_on_cpu_matches_a_dense_convolution_on_several_threads():
    """spconv's CPU kernels race on more than one torch thread (setup() runs them on one): its
    submanifold convolution must equal the dense convolution at the active sites, forward and
    backward, and leave torch's thread count as it was."""
    setup()
    import spconv.pytorch as spconv

    torch.manual_seed(0)
    shape = (16, 48, 48)
    sites = torch.unique(torch.stack([torch.zeros(6000, dtype=torch.int32)] +
                                     [torch.randint(0, n, (6000,), dtype=torch.int32) for n in shape], 1), dim=0)
    feats = torch.randn(len(sites), 8, requires_grad=True)
    conv = spconv.SubMConv3d(8, 16, 3, indice_key="dense-check", bias=False)
    upstream = torch.randn(len(sites), 16)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out = conv(spconv.SparseConvTensor(feats, sites, list(shape), 1))
        (out.features * upstream).sum().backward()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    dense = torch.zeros(1, 8, *shape, requires_grad=True)
    weight = conv.weight.detach().permute(0, 4, 1, 2, 3).clone().requires_grad_(True)  # KRSC → OIDHW
    at = tuple(out.indices.long().T)
    reference = torch.nn.functional.conv3d(dense + _scatter_dense(feats.detach(), sites, shape), weight, padding=1)
    reference = reference.permute(0, 2, 3, 4, 1)[at]
    assert torch.allclose(out.features, reference, atol=1e-4)
    (reference * upstream).sum().backward()
    assert torch.allclose(conv.weight.grad.permute(0, 4, 1, 2, 3), weight.grad, atol=1e-3)
    assert torch.allclose(feats.grad, dense.grad.permute(0, 2, 3, 4, 1)[tuple(sites.long().T)], atol=1e-4)


def _scatter_dense(feats: torch.Tensor, sites: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    grid = torch.zeros(1, *shape, feats.shape[1])
    grid[tuple(sites.long().T)] = feats
    return grid.permute(0, 4, 1, 2, 3)


def test_mmdl_env_shows_the_stack_and_each_op():
    import subprocess

    out = subprocess.run([sys.executable, "-m", "mmdl_lib.cli", "env"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for package in ("mmengine 0.10", "mmdet 3.3", "mmdet3d 1.4", "mmsegmentation 1.2", "spconv 2.3"):
        assert package in out.stdout, package
    ops_line = next(line for line in out.stdout.splitlines() if line.startswith("OpenMMLab ops:"))
    assert "nms_rotated: " in ops_line and "dynamic_voxelize_forward: " in ops_line and "DynamicScatter" in ops_line
    assert "no CUDA kernel" not in ops_line
