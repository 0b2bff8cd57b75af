"""Interactive plotly figures that render in Jupyter, on Colab and on the offline site (chapter 03's
point clouds, and any chapter's 3D view).

A plain ``plotly.graph_objects.Figure`` puts only plotly's own MIME type into the notebook, which
Jupyter Book 1 cannot render: the site would show nothing. :class:`InteractiveFigure` gives both that
MIME type (JupyterLab, Colab) and a self-contained HTML fragment that carries plotly.js itself
(about 3.5 MB), so the page works without a CDN.
"""

from __future__ import annotations

import json
from typing import Any

PLOTLY_MIME = "application/vnd.plotly.v1+json"


class InteractiveFigure:
    """Wraps a plotly figure for display; ``.figure`` is the figure itself."""

    def __init__(self, figure):
        self.figure = figure

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        return {PLOTLY_MIME: json.loads(self.figure.to_json()),
                "text/html": self.figure.to_html(full_html=False, include_plotlyjs=True,
                                                  config={"responsive": True})}
