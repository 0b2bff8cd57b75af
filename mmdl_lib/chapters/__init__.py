"""The book's chapters, one folder each: its config and profiles, the steps its notebook calls, and the
models, losses, training and figures only it uses. A chapter imports the core below it, never another
chapter (``tests/test_layers.py``); it reads another chapter's runs through :mod:`mmdl_lib.book.artefacts`."""
