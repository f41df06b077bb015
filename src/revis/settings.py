"""Kedro project settings for revis (see https://docs.kedro.org/en/stable/configure/)."""

from revis.config.loader import RevisConfigLoader
from revis.hooks import ParameterValidationHook, TrackingHook

HOOKS = (ParameterValidationHook(), TrackingHook())
# Plugins' auto-registered hooks: kedro-viz's write run statistics into the project folder, and
# the telemetry hook is off by policy (revis runs offline).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz", "kedro-telemetry", "kedro_mlflow", "kedro-mlflow")

# Parameters come from the root params.yaml (tracked by DVC); see config/loader.py.
CONFIG_LOADER_CLASS = RevisConfigLoader
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
