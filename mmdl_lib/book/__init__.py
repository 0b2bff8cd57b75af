"""Executing the chapters and building the site (``mmdl run``, ``mmdl book``)."""
