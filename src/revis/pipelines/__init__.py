"""Kedro wiring, one package per pipeline: ``nodes.py`` (thin adapters), ``pipeline.py``
(wiring, each node tagged with its stage kind) and ``params.py`` (its params.yaml section)."""
