"""Kedro reads parameters from the root ``params.yaml`` -- the file DVC tracks.

``params.yaml`` is the base; ``parameters*.yml`` files of the run environment (e.g. an
untracked ``conf/local/parameters.yml``) are merged over it, then ``kedro run --params``.
DVC stages run with ``--env base``, so what DVC tracks is exactly what they run; local
overrides serve ad-hoc ``kedro run`` sessions only (DVC would not see them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException, OmegaConfigLoader
from omegaconf import OmegaConf

PARAMS_FILE = "params.yaml"


class RevisConfigLoader(OmegaConfigLoader):
    def params_path(self) -> Path:
        return Path(self.conf_source).resolve().parent / PARAMS_FILE

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key != "parameters" or key in self:
            return super().__getitem__(key)
        path = self.params_path()
        if not path.is_file():
            raise MissingConfigException(f"the project's parameter file {path} is missing")
        root = OmegaConf.load(path)
        try:
            overlay = super().__getitem__("parameters")
        except MissingConfigException:
            overlay = {}
        merged = OmegaConf.merge(root, overlay, self.runtime_params or {})
        return OmegaConf.to_container(merged, resolve=True)  # type: ignore[return-value]
