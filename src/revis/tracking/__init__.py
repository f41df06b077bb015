"""Experiment tracking: every stage is an MLflow run, recorded by a companion process shared by the stages.

- ``store``: where runs go (one SQLite store at the repository root, or ``MLFLOW_TRACKING_URI``).
- ``client``: what a stage's process uses -- it never imports MLflow; it streams events
  (start, parameters, curves, artifacts, end) to the agent.
- ``agent``: a companion process that imports MLflow and opens the store once (about 4 CPU
  seconds) and records each stage's run over a Unix socket, shared by the stages of a ``dvc
  repro`` and gone after 90 s idle; it outlives a killed stage to record how the run ended.
- ``hook``: the Kedro hook that opens one run per stage (experiment = paper).
"""
