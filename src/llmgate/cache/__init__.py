"""The response cache: exact (a hash of the canonical request) and semantic (the nearest earlier
last user turn), shared by every replica through Redis or kept in-process. See ``base.py``."""
