"""Kedro project settings for revis (see https://docs.kedro.org/en/stable/configure/)."""

from typing import Any

from kedro.framework.context.catalog_mixins import CatalogCommandsMixin
from kedro.io import DataCatalog, MemoryDataset
from pydantic import BaseModel

from revis.config.loader import RevisConfigLoader
from revis.hooks import ParameterValidationHook, TrackingHook

HOOKS = (ParameterValidationHook(), TrackingHook())
# Plugins' auto-registered hooks: kedro-viz's write run statistics into the project folder, and
# the telemetry hook is off by policy (revis runs offline).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz", "kedro-telemetry", "kedro_mlflow", "kedro-mlflow")

# Parameters come from the root params.yaml (tracked by DVC); see config/loader.py.
CONFIG_LOADER_CLASS = RevisConfigLoader
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}

_PLAIN = (dict, list, tuple, str, int, float, bool, type(None), BaseModel)


class RevisDataCatalog(DataCatalog, CatalogCommandsMixin):
    """Kedro's catalog (with the commands mixin Kedro adds to its default one); a parameter's
    ``MemoryDataset`` gets the copy mode Kedro would infer for it, ``deepcopy``, without inferring it:
    the inference imports pandas and tries ibis for each of the ~560 parameter entries (about a
    second of every stage's start-up, for values that are never data frames)."""

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, _PLAIN):
            value = MemoryDataset(data=value, copy_mode="deepcopy")
        super().__setitem__(key, value)


DATA_CATALOG_CLASS = RevisDataCatalog
