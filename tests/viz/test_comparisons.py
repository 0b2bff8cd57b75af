"""The comparisons a chapter prints: the table and the verdicts read from the numbers, and the chart."""

import matplotlib

from mmdl_lib.metrics.uncertainty import mean_difference, seed_comparison
from mmdl_lib.viz.comparisons import comparisons_markdown, plot_comparisons

matplotlib.use("Agg")


def test_a_record_dict_and_the_object_print_the_same_table_and_verdicts():
    loss = mean_difference([0.2] * 12, [0.5] * 12, ("fused", "text head"), "log loss", higher_is_better=False)
    spread = seed_comparison([27.0, 30.0, 25.0], [36.0, 35.0, 38.0], ("KD", "no KD"), "BEV AP")
    from_objects = comparisons_markdown({"loss": loss, "kd": spread})
    assert from_objects == comparisons_markdown({"loss": loss.to_dict(), "kd": spread.to_dict()})
    rows = from_objects.splitlines()
    assert rows[2] == ("| fused vs text head | log loss | 0.200 | 0.500 | -0.300 [-0.300, -0.300] | "
                       "paired bootstrap over 12 items | fused |")
    # differences −9, −5, −13: mean −9, sd 4, t(0.975, 2) = 4.303 → half-width 4.303 · 4/√3 = 9.937
    assert rows[3] == ("| KD vs no KD | BEV AP | 27.333 | 36.333 | -9.000 [-18.937, +0.937] | "
                       "t over 3 paired seeds | cannot be told apart |")
    assert f"- {spread.verdict()}" in rows and spread.verdict().startswith("KD and no KD cannot be told apart")


def test_verdicts_alone_have_no_table():
    tie = mean_difference([1, 0] * 5, [0, 1] * 5, ("A", "B"), "accuracy")
    assert comparisons_markdown({"t": tie}, table=False) == f"- {tie.verdict()}"


def test_the_chart_has_one_error_bar_per_comparison():
    a = mean_difference([1.0] * 10, [0.0] * 10, ("A", "B"), "hits")
    b = mean_difference([0.0] * 10, [1.0] * 10, ("C", "D"), "hits")
    figure = plot_comparisons({"a": a, "b": b})
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["C − D\n(hits)", "A − B\n(hits)"]
    assert len(figure.axes[0].containers) == 2
