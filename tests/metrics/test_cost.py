"""Model cost: FLOPs that count every operation (hand-computed and published totals), latency with its
spread measured in turns, and the deployment pair's teacher-over-student ratios (chapter 01)."""

import open_clip
import pytest
import timm
import torch

from mmdl_lib.metrics.cost import (Latency, count_flops, interleaved_latency, latency_ratio, teacher_student_ratios,
                                   unfused_attention)


def test_a_linear_layer_costs_two_flops_per_multiply_add():
    layer = torch.nn.Linear(8, 4)
    assert count_flops(layer, torch.rand(3, 8)) == 2 * 8 * 4  # per item of the batch


def test_a_convolution_costs_two_flops_per_multiply_add_at_every_output_pixel():
    conv = torch.nn.Conv2d(3, 5, kernel_size=3, padding=1, bias=False)
    assert count_flops(conv, torch.rand(2, 3, 6, 6)) == 2 * (3 * 3 * 3) * 5 * (6 * 6)


def test_an_attention_block_counts_its_projections_and_the_attention_through_the_fused_fast_path():
    tokens, width = 10, 16
    attention = torch.nn.MultiheadAttention(width, num_heads=2, batch_first=True).eval()
    expected = (2 * tokens * width * 3 * width  # Q, K, V projections
                + 2 * tokens * tokens * width  # Q·Kᵀ
                + 2 * tokens * tokens * width  # weights · V
                + 2 * tokens * width * width)  # output projection
    flops = count_flops(lambda x: attention(x, x, x, need_weights=False)[0], torch.rand(3, tokens, width))
    assert flops == expected
    assert torch.backends.mha.get_fastpath_enabled()  # the fast path is back on after counting
    with unfused_attention():
        assert not torch.backends.mha.get_fastpath_enabled()


@pytest.mark.parametrize("build, published_gmacs", [
    (lambda: open_clip.create_model("ViT-B-16").visual, 17.58),  # ViT-B/16 at 224 px (timm, fvcore)
    (lambda: timm.create_model("convnext_tiny"), 4.47),  # ConvNeXt-T at 224 px (Liu et al. 2022)
])
def test_flops_match_the_published_totals_within_two_per_cent(build, published_gmacs):
    model = build().eval()
    gflops = count_flops(model, torch.rand(1, 3, 224, 224)) / 1e9
    assert gflops == pytest.approx(2 * published_gmacs, rel=0.02)


def test_latency_holds_its_median_and_quartiles():
    timed = Latency((4.0, 1.0, 3.0, 2.0, 5.0))
    assert timed.median == 3.0 and timed.quartiles == (2.0, 4.0)
    assert timed.summary("ms") == {"ms": 3.0, "ms_q1": 2.0, "ms_q3": 4.0}


def test_models_are_timed_in_turns():
    order = []
    calls = {name: (lambda x, name=name: order.append(name), torch.zeros(2)) for name in ("a", "b")}
    timed = interleaved_latency(calls, repeats=3, warmup=1)
    assert order == ["a", "b"] * 4  # one warm-up round, then three timed rounds, alternating
    assert all(len(t.ms_per_item) == 3 for t in timed.values())


def test_the_latency_ratio_and_its_interval():
    teacher, student = Latency((30.0, 31.0, 29.0, 60.0)), Latency((10.0, 10.0, 10.0, 20.0))
    ratio = latency_ratio(teacher, student)
    assert ratio["ratio"] == pytest.approx(30.5 / 10.0)
    assert ratio["low"] <= ratio["ratio"] <= ratio["high"] and ratio["rounds"] == 4
    steady = latency_ratio(Latency((3.0,) * 8), Latency((1.0,) * 8))
    assert steady["low"] == steady["high"] == steady["ratio"] == 3.0  # no spread, no width
    with pytest.raises(ValueError, match="same number of rounds"):
        latency_ratio(Latency((1.0, 2.0)), Latency((1.0,)))


def test_ratios_are_teacher_over_student_in_each_ones_fastest_runtime():
    pair = {"student (convnext_tiny)": {"params_M": 28.0, "GFLOPs_per_image": 9.0, "ms_per_image_fastest": 30.0},
            "teacher image tower (ViT-B-16)": {"params_M": 86.0, "GFLOPs_per_image": 35.0, "ms_per_image_fastest": 90.0}}
    assert teacher_student_ratios(pair) == pytest.approx({"params": 86 / 28, "flops": 35 / 9, "latency": 3.0})
    pair["latency ratio"] = {"ratio": 3.0, "low": 2.5, "high": 3.4, "confidence": 0.95, "rounds": 10}
    ratios = teacher_student_ratios(pair)
    assert (ratios["latency_low"], ratios["latency_high"]) == (2.5, 3.4)
