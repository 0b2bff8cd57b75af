"""Losses as small modules that return their parts (``{"clip": ..., "total": ...}``)."""
