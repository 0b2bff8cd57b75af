"""Chapter 03's configuration (mmdl_lib/stages/pseudo_lidar_kd.py)."""

import pytest

from mmdl_lib.errors import ConfigError
from mmdl_lib.stages.pseudo_lidar_kd import PseudoLidarKDConfig, record_notes


def test_the_rehearsal_keeps_the_full_architectures_with_random_weights():
    full, rehearsal = PseudoLidarKDConfig.from_profile("full"), PseudoLidarKDConfig.from_profile("full", rehearse=True)
    assert rehearsal.depth_architecture == full.depth_architecture == "full" and not rehearsal.depth_pretrained
    assert rehearsal.detector_config == full.detector_config and rehearsal.depth_width == full.depth_width == 1216
    assert rehearsal.phases_epochs() == [1, 1] and full.phases_epochs() == [20, 10]
    assert rehearsal.synthetic and rehearsal.synthetic_preset == "rehearsal" and rehearsal.max_frames == 1
    assert "random weights" in record_notes(rehearsal) and record_notes(full) is None


def test_kitti_weights_exist_for_the_full_glpn_only():
    with pytest.raises(ConfigError, match="depth_pretrained: KITTI weights exist for the full GLPN only"):
        PseudoLidarKDConfig.from_profile("smoke", depth_pretrained=True)
