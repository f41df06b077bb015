"""``scoreboard`` pipeline: one ``report`` stage over every pipeline with a claims file.

Each ``claims/<name>.yaml`` pairs with ``reports/<name>/metrics.json`` (the ``<name>.metrics``
output of pipeline ``<name>``); a test checks that the two sets agree.
"""

from kedro.pipeline import Pipeline, node, pipeline

from revis.paths import project_root
from revis.pipelines.scoreboard import nodes_report as nodes


def claimed_pipelines() -> list[str]:
    return sorted(path.stem for path in (project_root() / "claims").glob("*.yaml"))


def create_pipeline(**kwargs) -> Pipeline:
    papers = claimed_pipelines()
    inputs = {f"{p}_{kind}": f"{p}.{kind}" for p in papers for kind in ("claims", "metrics")}
    return pipeline(
        [
            node(
                nodes.build_scoreboard,
                inputs=inputs,
                outputs=["scoreboard.markdown", "scoreboard.verdicts"],
                name="build_scoreboard",
                tags=["report"],
            )
        ]
    )
