"""Chapter 03's detector training keeps ``fit``'s deterministic CPU kernels (its default) on."""

import inspect

import pytest
import torch

import mmdl_lib.chapters.pseudo_lidar_kd.detector_training as detector_training
from mmdl_lib.chapters.pseudo_lidar_kd.detector_training import train_detector, train_kd_phases
from mmdl_lib.chapters.pseudo_lidar_kd.kd_losses import KDWeights


@pytest.fixture
def seen(monkeypatch):
    calls = []

    default = inspect.signature(detector_training.fit).parameters["deterministic"].default

    def fit(*args, **kwargs):
        calls.append(kwargs.get("deterministic", default))
        return []
    monkeypatch.setattr(detector_training, "fit", fit)  # the name it trains with
    return calls


def test_the_teacher_and_the_students_train_with_deterministic_kernels(seen):
    model = torch.nn.Linear(2, 2)
    train_detector(model, [{}] * 4, 1, 1e-3, 2, torch.device("cpu"))

    class KD(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.student = torch.nn.Linear(2, 2)
    train_kd_phases(KD(), [{}] * 4, [(1, KDWeights(1.0, 2.0, 1.0)), (1, KDWeights(3.0, 1.5, 1.5))], 1e-3, 2,
                    torch.device("cpu"))
    assert seen == [True, True, True]


def test_a_cached_detector_is_trained_once_then_loaded(isolated_home, monkeypatch):
    from types import SimpleNamespace

    import mmdl_lib.chapters.pseudo_lidar_kd.detector_training as detection

    trained = []

    def train(model, samples, *args, **kwargs):
        trained.append(len(samples))
        with torch.no_grad():
            model.weight.fill_(7.0)
        return [{"epoch": 1}]
    monkeypatch.setattr(detection, "train_detector", train)
    samples = [{"data_sample": SimpleNamespace(metainfo={"sample_idx": f"{i:06d}"})} for i in range(3)]
    cpu = torch.device("cpu")
    first = torch.nn.Linear(2, 2)
    assert detection.cached_trained_detector(first, samples, 1, 1e-3, 2, cpu, settings={"config": "a"}) == [{"epoch": 1}]
    again = torch.nn.Linear(2, 2)
    assert detection.cached_trained_detector(again, samples, 1, 1e-3, 2, cpu, settings={"config": "a"}) == []
    assert trained == [3] and torch.equal(again.weight, first.weight)  # loaded, not trained again
    detection.cached_trained_detector(torch.nn.Linear(2, 2), samples[:2], 1, 1e-3, 2, cpu, settings={"config": "a"})
    detection.cached_trained_detector(torch.nn.Linear(2, 2), samples, 1, 1e-3, 2, cpu, settings={"config": "b"})
    assert trained == [3, 2, 3]  # other frames or another config: another detector
