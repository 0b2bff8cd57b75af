"""MMDL: the library behind the book *Multimodal deep learning for autonomous driving*.

Every chapter (notebook) of the book is narrative, parameters and calls into this package;
models, losses, metrics, data loaders and the synthetic driving world all live here.
"""

import os

__version__ = "0.1.0"

# The book uses Open3D for ray casting only; its Jupyter web visualiser would print WebRTC
# messages into every page that imports it (the synthetic world, mmdet3d).
os.environ.setdefault("OPEN3D_DISABLE_WEB_VISUALIZER", "true")
