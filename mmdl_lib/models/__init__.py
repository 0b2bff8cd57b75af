"""Models of the book, built by name + config (timm and open_clip factories underneath)."""
