"""``./run-stage``: what each DVC stage runs.

    ./run-stage check-params          validate params.yaml, fingerprint DataPath inputs
    ./run-stage <pipeline> <kind>     = kedro run --env=base --pipelines=<pipeline> --tags=<kind>

The shell launcher at the repository root runs this module with the project's own Python
(``.venv`` when present), so ``dvc repro`` works whether or not the environment is activated.
It opens the same KedroSession that ``kedro run`` opens, without loading the Kedro CLI and
its plugins first (a second of start-up per stage), and it builds only the nodes of its kind:
the other kinds' node modules, and what they import, are never loaded (``revis.pipelines``).

A stage validates the parameters before any node runs (the session's
``ParameterValidationHook``; ``main`` then exits 2 with one message, having touched nothing): a bad value or an unreadable params.yaml stops ``./run-stage`` the same way
it stops the ``check-params`` stage. ``dvc repro -s <stage>`` skips ``check-params`` and DVC
deletes the stage's outputs before running it, so validate first there
(``./run-stage check-params && dvc repro -s <stage>``); ``dvc checkout <stage>`` restores
outputs that a refused stage lost.
"""

from __future__ import annotations

import sys
from pathlib import Path

import revis  # noqa: F401  (offline / no-telemetry environment first)
from revis.dvc_stages import CHECK_STAGE, STAGE_KINDS

USAGE = f"usage: run-stage {CHECK_STAGE} | run-stage <pipeline> <{'|'.join(STAGE_KINDS)}>"


# Stages whose worker processes fork from a server that imports torch and the stage's node module while Kedro
# starts (revis.workers.prestart): 3-14 CPU s less per stage, every output byte-identical (md5 against the
# spawned workers' outputs, stage by stage; README "Time budgets"). Other stages spawn their workers; a stage
# added here must run its jobs on a process pool (tests/test_dvc_stages.py) and be checked the same way.
PRESTARTED = {
    "biice": ("train", "attribute"),
    "csod": ("features", "train"),
    "dkkt": ("distill", "train"),
    "dsv": ("features", "select", "distill", "train"),
    "gig": ("features", "attribute", "evaluate"),
    "hlclip": ("train", "evaluate"),
    "vl": ("train",),
}


def run(pipeline: str, kind: str, root: Path) -> None:
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from revis import workers
    from revis.pipelines import only_stage_kinds

    if kind in PRESTARTED.get(pipeline, ()):
        workers.prestart([f"revis.pipelines.{pipeline}.nodes_{kind}"])
    bootstrap_project(root)
    # Kedro builds only the requested pipeline; only_stage_kinds: only this kind's node module is imported
    try:
        with only_stage_kinds([kind]), KedroSession.create(project_path=root, env="base") as session:
            session.run(pipeline_names=[pipeline], tags=[kind])  # type: ignore[call-arg]
    finally:
        pipelines.set_requested(None)  # Kedro's cached registry holds this stage's pipeline only: rebuild next time
        workers.stop_prestarted()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path.cwd()
    if args == [CHECK_STAGE]:
        from revis.config.check import run_check_stage

        return run_check_stage(root)
    if len(args) != 2 or args[1] not in STAGE_KINDS:
        print(USAGE, file=sys.stderr)
        return 2
    from revis.config.check import EXP_HINT, ParameterError
    from revis.dvc_stages import sweep_temporaries

    sweep_temporaries(root)
    try:
        run(args[0], args[1], root)
    except ParameterError as exc:  # raised when the session's context is created: before any node ran
        print(f"{exc}\n{EXP_HINT}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
