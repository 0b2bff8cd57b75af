"""MMDL: the library behind the book *Multimodal deep learning for autonomous driving*.

Every chapter (notebook) of the book is narrative, parameters and calls into this package;
models, losses, metrics, data loaders and the synthetic driving world all live here.
"""

import logging
import os

__version__ = "0.1.0"

# The book uses Open3D for ray casting only; its Jupyter web visualiser would print WebRTC
# messages into every page that imports it (the synthetic world, mmdet3d).
os.environ.setdefault("OPEN3D_DISABLE_WEB_VISUALIZER", "true")

# On CPUs with AVX512-BF16, bitsandbytes (imported by peft, transformers and mmengine's optimiser
# registry) looks for the optional `kernels` package, which would download a faster 4-bit CPU matmul
# from the Hugging Face Hub, and warns at import when it is absent. The book runs offline without
# it (chapter 06's QLoRA uses bitsandbytes' own CPU path); keep only that logger's errors.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
