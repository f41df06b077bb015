"""Importing ultralytics the project's way: offline, settings and runs under ``data/``, no loggers.

ultralytics reads ``YOLO_CONFIG_DIR`` once, at import, to place its ``settings.json``
(default: the user's home); its default ``runs_dir`` is the git root. Its MLflow callback
calls ``mlflow.set_experiment``/``autolog``/``log_params`` on whatever run is active (the
Kedro stage's) or, without ``MLFLOW_TRACKING_URI``, opens a file store in the working
directory. revis logs its own metrics through kedro-mlflow, so that callback and the other
logger integrations (DVCLive, ClearML, Comet, ...) are switched off in the settings.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import ModuleType

from revis.paths import project_root

# ultralytics' settings keys for its logger integrations; all off
INTEGRATIONS = ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")


def ultralytics_home(root: str | os.PathLike | None = None) -> Path:
    """``<project>/data/ultralytics``: settings, runs, scratch datasets."""
    return (Path(root) if root is not None else project_root()) / "data" / "ultralytics"


def import_ultralytics(home: str | os.PathLike | None = None, quiet: bool = True) -> ModuleType:
    """Import ultralytics offline with its settings file and runs under ``home``; loggers off.

    If ultralytics was imported before (by someone else), its settings file stays where that
    import put it, but the values below are still enforced.
    """
    home = Path(home) if home is not None else ultralytics_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    if "ultralytics" not in sys.modules:
        os.environ["YOLO_CONFIG_DIR"] = str(home.resolve())
    import ultralytics
    from ultralytics.utils import LOGGER, SETTINGS

    wanted = {
        "runs_dir": str((home / "runs").resolve()),
        "datasets_dir": str((home / "datasets").resolve()),
        "weights_dir": str((home / "weights").resolve()),
        "sync": False,
        **{key: False for key in INTEGRATIONS},
    }
    changed = {key: value for key, value in wanted.items() if SETTINGS.get(key) != value}
    if changed:
        SETTINGS.update(changed)
    if quiet:
        LOGGER.setLevel(logging.WARNING)
    return ultralytics
