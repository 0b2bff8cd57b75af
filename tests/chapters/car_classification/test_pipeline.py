import numpy as np
import pytest

from mmdl_lib.chapters.car_classification import pipeline as stage
from mmdl_lib.chapters.car_classification.calibration import calibrate_and_ensemble
from mmdl_lib.chapters.car_classification.submission import write_outputs
from mmdl_lib.errors import ConfigError


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from mmdl_lib.synth import write_synthetic

    root = write_synthetic("cars", tmp_path_factory.mktemp("cars"), preset="tiny", seed=0)
    cfg = stage.CONFIG.from_profile("smoke", data_root=str(root), n_folds=2)
    return stage.load_split(cfg)


def _probabilities(labels, n_classes, strength, seed):
    rng = np.random.default_rng(seed)
    p = rng.random((len(labels), n_classes))
    p[np.arange(len(labels)), labels] += strength
    return p / p.sum(1, keepdims=True)


def test_scores_calibration_ensemble_and_outputs(split, tmp_path):
    n = len(split.data.classes)
    approaches = {name: {"val": _probabilities(split.labels("val"), n, s, i),
                         "test": _probabilities(split.test_labels, n, s, i + 10)}
                  for i, (name, s) in enumerate([("good", 4.0), ("weak", 0.5)])}
    scores = stage.score_approaches(approaches, split)
    assert set(scores) == {"class prior", "good", "weak"} and "test" in scores["good"]
    assert scores["good"]["val"]["log_loss"] < scores["class prior"]["val"]["log_loss"]
    temperature, calibrated, weights, mixed = calibrate_and_ensemble(approaches, split.labels("val"), seed=0)
    assert set(weights) == {"good", "weak"} and sum(weights.values()) == pytest.approx(1.0)
    assert mixed["test"].shape == approaches["good"]["test"].shape
    artifacts = write_outputs(tmp_path, split, mixed, top_k=3)
    assert all(path.endswith(".csv") for path in artifacts.values())


def test_split_covers_the_training_images_once(split):
    assert len(split.train) + len(split.val) == len(split.data.train_paths)
    assert not set(split.train) & set(split.val)


def test_hint_source_must_be_an_approach_with_training_predictions():
    with pytest.raises(ConfigError, match="hint_source"):
        stage.CONFIG.from_profile("smoke", hint_source="QLoRA VLM (hybrid)")


def test_smoke_checks_fail_when_the_ensemble_is_worse():
    metrics = {"scores": {"class prior": {"val": {"log_loss": 3.0}}, "a": {"val": {"log_loss": 1.0}}},
               "temperature": {"a": {"log_loss_before": 1.0, "log_loss_after": 0.9}}, "best_approach": "a",
               "ensemble_val_log_loss": 1.2, "best_calibrated_val_log_loss": 0.9}
    checks = stage.smoke_checks(metrics)
    assert checks["best approach's log loss well below the class prior's"]
    assert not checks["ensemble no worse than its best calibrated member on validation"]


def test_the_qlora_step_does_not_depend_on_what_ran_before(tmp_path_factory, isolated_home):
    """Its adapters' initial weights come from the config's seed, not from the global generator's state:
    the first call builds the tiny VLM's checkpoint (cold), the second reads it from the cache, and
    an earlier step's draws come in between."""
    import torch

    from mmdl_lib.data.hecto_cars import car_image_sets
    from mmdl_lib.synth import write_synthetic

    root = write_synthetic("cars", tmp_path_factory.mktemp("cars_q"), preset="tiny", seed=0)
    cfg = stage.CONFIG.from_profile("smoke", data_root=str(root), n_folds=2, vlm_steps=2, vlm_batch_size=2)
    split = stage.load_split(cfg)
    sets = car_image_sets(split, cfg.cnn_image_size, True)
    n = len(split.data.classes)
    hint = {"train_plain": _probabilities(split.labels("train"), n, 1.0, 0),
            "val": _probabilities(split.labels("val"), n, 1.0, 1), "test": _probabilities(split.test_labels, n, 1.0, 2)}
    runs = []
    for draws in (0, 5):
        torch.rand(draws)  # what an earlier step would have drawn
        probabilities, log, _ = stage.qlora_vlm(cfg, split, sets, hint, torch.device("cpu"))
        runs.append((probabilities["val"], [row["loss"] for row in log]))
    assert runs[0][1] == runs[1][1]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
