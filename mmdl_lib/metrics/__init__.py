"""Metrics as plain functions over arrays, tested on hand-made cases."""
