"""Project commands added to the ``kedro`` CLI (``kedro dvc-yaml``, ``kedro check-params``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from revis.config.check import ParameterError, check_parameters
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
@click.option(
    "--env",
    "envs",
    multiple=True,
    default=("base", "local"),
    show_default=True,
    help="Environments to validate: base is params.yaml (what DVC runs), local adds conf/local overrides.",
)
def check_params(envs: tuple[str, ...]) -> None:
    """Validate the parameters against every pipeline's schema, without running anything."""
    try:
        check_parameters(Path.cwd(), envs)
    except ParameterError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    click.echo(f"parameters are valid ({', '.join(envs)})")
