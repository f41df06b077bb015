"""Kedro reads parameters from the root ``params.yaml`` -- the file DVC tracks.

``params.yaml`` is the base; ``parameters*.yml`` files of the run environment (e.g. an
untracked ``conf/local/parameters.yml``) are merged over it, then ``kedro run --params``.
DVC stages run with ``--env base``, so what DVC tracks is exactly what they run; local
overrides serve ad-hoc ``kedro run`` sessions only (DVC would not see them).

A file that cannot be read as parameters (YAML syntax, duplicate keys, bytes that are not
UTF-8, a ``${...}`` that does not resolve, a missing params.yaml) raises ``ConfigFileError``:
one message with the file, the line and what is wrong -- no traceback, exit status 2, like a
bad value.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from kedro.config import MissingConfigException, OmegaConfigLoader
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from revis.config.schema import ParameterError

PARAMS_FILE = "params.yaml"


class ConfigFileError(ParameterError):
    """A parameter file that cannot be read: the message names the file, the line and the problem."""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def load_yaml_file(path: Path) -> DictConfig:
    """``path`` as an OmegaConf tree; any reading or YAML problem -> ``ConfigFileError``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: the project's parameter file is missing") from None
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigFileError(
            f"{path}, line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 (save the file as UTF-8)"
        ) from None
    try:
        tree = OmegaConf.create(yaml.load(text, Loader=_loader_class()) or {})
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigFileError(f"{path}{where}: YAML error: {problem}") from None
    except (yaml.YAMLError, OmegaConfBaseException, ValueError) as exc:
        raise ConfigFileError(f"{path}: {_first_line(str(exc))}") from None
    if not isinstance(tree, DictConfig):
        raise ConfigFileError(f"{path}: the top level must be a mapping of sections, got a list")
    return tree


def _loader_class() -> type:
    """OmegaConf's own YAML loader (it refuses duplicate keys and reads 1e-3 as a float)."""
    from omegaconf._utils import get_yaml_loader

    return get_yaml_loader()  # type: ignore[no-any-return]


def resolve(tree: Any, sources: list[Path]) -> dict[str, Any]:
    """The plain dict of ``tree`` with every ``${...}`` resolved; a bad interpolation names its file and line."""
    try:
        return OmegaConf.to_container(tree, resolve=True)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        problem = _first_line(str(exc))
        for path in sources:
            where = _interpolation_line(path, problem)
            if where:
                raise ConfigFileError(f"{path}, line {where}: '{key}': {problem}") from None
        raise ConfigFileError(f"{', '.join(map(str, sources))}: '{key}': {problem}") from None


def _interpolation_line(path: Path, problem: str) -> int | None:
    """The line of ``path`` holding the interpolation that ``problem`` names (``${nope}``), if any."""
    named = re.search(r"'([^']+)'", problem)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for number, line in enumerate(lines, start=1):
        if "${" in line and (named is None or named.group(1) in line):
            return number
    return None


class RevisConfigLoader(OmegaConfigLoader):
    """Parameters are params.yaml merged with the environment's ``parameters*.yml`` and the runtime params.

    A session asks for them three times before its first node (validation, the context, tracking);
    they are read and resolved once per loader (about 0.25 s of CPU each time) and handed out as copies.
    """

    _parameters: dict[str, Any] | None = None

    def params_path(self) -> Path:
        return Path(self.conf_source).resolve().parent / PARAMS_FILE

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key != "parameters" or key in self:
            return super().__getitem__(key)
        if self._parameters is None:
            self._parameters = self._read_parameters()
        return copy.deepcopy(self._parameters)

    def _read_parameters(self) -> dict[str, Any]:
        path = self.params_path()
        root = load_yaml_file(path)
        try:
            overlay = super().__getitem__("parameters")
        except MissingConfigException:
            overlay = {}
        except (yaml.YAMLError, OmegaConfBaseException, UnicodeDecodeError, ValueError) as exc:
            folder = Path(self.conf_source) / str(self.env or "")
            raise ConfigFileError(f"{folder}/parameters*.yml: {_first_line(str(exc))}") from None
        try:
            merged = OmegaConf.merge(root, overlay, self.runtime_params or {})
        except OmegaConfBaseException as exc:
            raise ConfigFileError(f"{path}: {_first_line(str(exc))}") from None
        return resolve(merged, [path])
