"""Kedro project settings for revis (see https://docs.kedro.org/en/stable/configure/)."""

from revis.config.loader import RevisConfigLoader
from revis.hooks import ParameterValidationHook, RevisMlflowHook
from revis.tracking import mlflow_tracking_uri

# kedro-mlflow's own hook is replaced by RevisMlflowHook, which extends it (see hooks.py).
HOOKS = (ParameterValidationHook(), RevisMlflowHook())
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")  # the distribution name varies by release

# Parameters come from the root params.yaml (tracked by DVC); see config/loader.py.
CONFIG_LOADER_CLASS = RevisConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"revis.mlflow_uri": lambda: mlflow_tracking_uri()},
}
