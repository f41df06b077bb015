"""Paper-scale configurations: overlays of params.yaml applied as a DVC experiment.

``paper_scale/<pipeline>.yaml`` holds only the keys that differ at paper scale (real dataset
folders, widths, epochs, ...). It documents the configuration and is applied without editing
params.yaml -- the defaults stay in params.yaml, the run is a tracked ``dvc exp``:

    dvc exp run -n dsv-paper $(python -m revis.config.overlay paper_scale/dsv.yaml)

The merged parameters are validated first, so a bad overlay fails before any compute.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from revis.config.loader import load_yaml_file, resolve
from revis.config.schema import ParameterError, validate_params
from revis.reporting.summary import flatten


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = (
            merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def set_param_args(overlay: dict[str, Any]) -> list[str]:
    """``-S key=value`` arguments for ``dvc exp run`` (values as YAML/JSON literals)."""
    args = []
    for key, value in flatten(overlay).items():
        literal = value if isinstance(value, str) else json.dumps(value)
        args += ["-S", f"{key}={literal}"]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overlay", type=Path)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        overlay = resolve(load_yaml_file(args.overlay), [args.overlay])
        params = resolve(load_yaml_file(args.params), [args.params])
        validate_params(merge(params, overlay), source=f"{args.params} + {args.overlay}")
    except ParameterError as exc:  # a bad value, or a file that cannot be read (ConfigFileError)
        print(exc, file=sys.stderr)
        return 2
    print(" ".join(shlex.quote(a) for a in set_param_args(overlay)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
