"""Released OpenMMLab checkpoints: safe by default, full unpickling only for a file marked trusted."""

import numpy as np
import pytest
import torch

from mmdl_lib.errors import CheckpointError
from mmdl_lib.openmmlab import load_openmmlab_checkpoint, read_openmmlab_checkpoint


def _released_style(path, model):
    # like OpenMMLab's model zoo: the weights plus meta holding numpy objects
    torch.save({"meta": {"epoch": 80, "hist": np.arange(3)}, "state_dict": model.state_dict()}, path)
    return path


def test_an_untrusted_pickle_is_refused_with_what_to_do(tmp_path):
    path = _released_style(tmp_path / "mvxnet.pth", torch.nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match="mvxnet.pth: this checkpoint holds pickled Python objects.*trusted=True"):
        read_openmmlab_checkpoint(path)


def test_a_trusted_file_loads_and_says_so(tmp_path, caplog):
    source, target = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    path = _released_style(tmp_path / "mvxnet.pth", source)
    keys = load_openmmlab_checkpoint(target, path, trusted=True)
    assert keys == {"missing": [], "unexpected": []} and torch.equal(target.weight, source.weight)
    assert "marked as trusted" in caplog.text


def test_plain_weights_load_without_trust_and_bad_files_are_named(tmp_path):
    model = torch.nn.Linear(2, 2)
    torch.save(model.state_dict(), tmp_path / "plain.pth")
    assert torch.equal(read_openmmlab_checkpoint(tmp_path / "plain.pth")["weight"], model.weight)
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="broken.pth"):
        read_openmmlab_checkpoint(tmp_path / "broken.pth", trusted=True)
    with pytest.raises(CheckpointError, match="missing.pth: checkpoint not found"):
        read_openmmlab_checkpoint(tmp_path / "missing.pth")
