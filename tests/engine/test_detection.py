"""Chapter 03's detector training asks ``fit`` for torch's deterministic kernels."""

import pytest
import torch

import mmdl_lib.engine.trainer as trainer
from mmdl_lib.engine.detection import train_detector, train_kd_phases
from mmdl_lib.losses.detection_kd import KDWeights


@pytest.fixture
def seen(monkeypatch):
    calls = []

    def fit(*args, **kwargs):
        calls.append(kwargs.get("deterministic", False))
        return []
    monkeypatch.setattr(trainer, "fit", fit)
    return calls


def test_the_teacher_and_the_students_ask_for_deterministic_kernels(seen):
    model = torch.nn.Linear(2, 2)
    train_detector(model, [{}] * 4, 1, 1e-3, 2, torch.device("cpu"))

    class KD(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.student = torch.nn.Linear(2, 2)
    train_kd_phases(KD(), [{}] * 4, [(1, KDWeights(1.0, 2.0, 1.0)), (1, KDWeights(3.0, 1.5, 1.5))], 1e-3, 2,
                    torch.device("cpu"))
    assert seen == [True, True, True]
