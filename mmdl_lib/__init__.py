"""MMDL: the library behind the book *Multimodal deep learning for autonomous driving*.

Every chapter (notebook) of the book is narrative, parameters and calls into this package;
models, losses, metrics, data loaders and the synthetic driving world all live here.
"""

__version__ = "0.1.0"
