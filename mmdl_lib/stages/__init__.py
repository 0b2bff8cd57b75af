"""One module per chapter: its config (smoke/full profiles) and the pipeline steps it calls."""
