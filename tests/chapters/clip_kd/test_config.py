"""Chapter 01's settings: the profiles differ in names and sizes only, and the teacher's are the shared ones."""

from mmdl_lib.chapters.clip_kd import ClipKDConfig
from mmdl_lib.region_clip import RegionTeacherConfig


def test_profiles_differ_in_names_and_sizes_only():
    smoke, full = ClipKDConfig.from_profile("smoke"), ClipKDConfig.from_profile("full")
    assert smoke.teacher_pretrained is None and smoke.teacher_epochs > 0
    assert (full.teacher_name, full.teacher_pretrained, full.backbone) == ("ViT-B-16", "laion2b_s34b_b88k",
                                                                           "convnext_tiny")


def test_chapter_01_asks_for_the_same_teacher_as_every_later_chapter():
    """Chapters 02, 04, 05 and 06 ask for RegionTeacherConfig's profile: its teacher settings are chapter 01's."""
    for profile in ("smoke", "full"):
        chapter01 = ClipKDConfig.from_profile(profile, seed=3)
        shared = RegionTeacherConfig.from_profile(profile, seed=3)
        for name, value in shared.to_dict().items():
            assert getattr(chapter01, name) == value, name
    rehearsal = ClipKDConfig.from_profile("full", rehearse=True)
    assert all(getattr(rehearsal, k) == v for k, v in RegionTeacherConfig.REHEARSAL.items())
