"""Figures of the book: boxes on images, training curves, dataset samples."""
