"""Prefect flows over the DVC stages (see flows/pipeline.py)."""
