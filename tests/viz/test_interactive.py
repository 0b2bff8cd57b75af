import numpy as np

from mmdl_lib.chapters.pseudo_lidar_kd.figures import cloud_figure
from mmdl_lib.viz.interactive import PLOTLY_MIME


def test_the_point_cloud_figure_renders_offline_in_jupyter_and_on_the_site():
    cloud = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    bundle = cloud_figure({"real": cloud, "pseudo": cloud + 1})._repr_mimebundle_()
    assert [t["name"] for t in bundle[PLOTLY_MIME]["data"]] == ["real", "pseudo"]
    html = bundle["text/html"]
    assert "Plotly.newPlot" in html and len(html) > 1_000_000, "plotly.js must travel with the page"
    assert "<script src=" not in html, "no script fetched from a CDN"
