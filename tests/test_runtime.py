"""Seeding helpers: the deterministic-kernel context that chapter 03's detector training runs under."""

import torch

from mmdl_lib.runtime import deterministic_algorithms


def _gather_backward() -> torch.Tensor:
    # the backward of x[idx] accumulates many rows into few: mmdet3d's voxel → point gather
    idx = torch.randint(0, 2000, (150_000,), generator=torch.Generator().manual_seed(0))
    x = torch.randn(2000, 32, generator=torch.Generator().manual_seed(1)).requires_grad_()
    (x[idx] * torch.randn(150_000, 32, generator=torch.Generator().manual_seed(2))).sum().backward()
    return x.grad


def test_the_context_gives_bit_identical_accumulations_on_two_threads_and_restores_the_setting():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with deterministic_algorithms():
            assert torch.are_deterministic_algorithms_enabled()
            first, second = _gather_backward(), _gather_backward()
        assert torch.equal(first, second)
    finally:
        torch.set_num_threads(previous)
    assert not torch.are_deterministic_algorithms_enabled()
    with deterministic_algorithms(False):
        assert not torch.are_deterministic_algorithms_enabled()
