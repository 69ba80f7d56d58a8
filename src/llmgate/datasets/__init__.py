"""Datasets from traffic: recorded calls selected, scrubbed and curated, exported as eval suites.

- ``item.py``: ``DatasetItem``, one case of a dataset as the store keeps it and the export reads it.
"""
