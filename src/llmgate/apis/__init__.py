"""Carrying a request in one API to a deployment that speaks another (``base.py``, ``registry.py``)."""
