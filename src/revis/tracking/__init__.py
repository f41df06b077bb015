"""Experiment tracking: every stage is an MLflow run, recorded by a companion process.

- ``store``: where runs go (one SQLite store at the repository root, or ``MLFLOW_TRACKING_URI``).
- ``client``: what a stage's process uses -- it never imports MLflow; it streams events
  (start, parameters, curves, artifacts, end) to the agent.
- ``agent``: a companion process that imports MLflow (about 3 s, on the other core, while the
  stage imports torch and computes) and records the run; it outlives a killed stage long
  enough to record how the run ended.
- ``hook``: the Kedro hook that opens one run per stage (experiment = paper).
"""
