"""Project commands added to the ``kedro`` CLI (``kedro dvc-yaml``, ``kedro check-params``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from kedro.framework.startup import bootstrap_project

from revis.config.loader import RevisConfigLoader
from revis.config.schema import ParameterError, validate_params
from revis.dvc_stages import project_document, render


@click.group(name="revis")
def cli() -> None:
    """revis project commands."""


@cli.command("dvc-yaml")
@click.option("--check", is_flag=True, help="Fail if dvc.yaml differs from a fresh generation.")
def dvc_yaml(check: bool) -> None:
    """Write dvc.yaml from the Kedro registry and catalog."""
    root = Path.cwd()
    text = render(project_document(root))
    target = root / "dvc.yaml"
    if check:
        if not target.exists() or target.read_text() != text:
            click.echo("dvc.yaml is stale: run `kedro dvc-yaml` and commit the result", err=True)
            sys.exit(1)
        click.echo("dvc.yaml matches the Kedro registry and catalog")
        return
    from revis.atomic import write_text_atomic

    write_text_atomic(target, text)
    click.echo(f"wrote {target} ({text.count('cmd:')} stages)")


@cli.command("check-params")
def check_params() -> None:
    """Validate params.yaml against every pipeline's schema, without running anything."""
    root = Path.cwd()
    bootstrap_project(root)
    try:
        validate_params(RevisConfigLoader(str(root / "conf"), base_env="base", default_run_env="base")["parameters"])
    except ParameterError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    click.echo("params.yaml is valid")
