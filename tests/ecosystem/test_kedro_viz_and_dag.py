"""The pipeline graph for people: kedro-viz served on 127.0.0.1 (`make viz`), the README's DAG (`make dag`)."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from revis.dag_mermaid import BEGIN, END, block, current_block, replace_block, without_check_stage

BIN = Path(sys.executable).parent
MERMAID = """flowchart TD
\tnode1["a-evaluate"]
\tnode2["a-train"]
\tnode3["check-params"]
\tnode4["world-ingest"]
\tnode2-->node1
\tnode3-->node1
\tnode3-->node2
\tnode3-->node4
\tnode4-->node2
"""


def test_the_readme_dag_leaves_out_only_the_check_stage_fan_out():
    text = without_check_stage(MERMAID)
    assert "check-params" not in text.replace("%% check-params", "")
    assert "node3" not in text
    assert text.splitlines()[0] == "flowchart TD" and text.splitlines()[1].lstrip().startswith("%%")
    assert [line.strip() for line in text.splitlines()[2:]] == [
        'node1["a-evaluate"]',
        'node2["a-train"]',
        'node4["world-ingest"]',
        "node2-->node1",
        "node4-->node2",
    ]
    readme = f"intro\n{BEGIN}\nold\n{END}\noutro\n"
    replaced = replace_block(readme, f"{BEGIN}\nnew\n{END}")
    assert replaced == f"intro\n{BEGIN}\nnew\n{END}\noutro\n" and current_block(replaced) == f"{BEGIN}\nnew\n{END}"


@pytest.mark.integration
def test_the_readme_dag_is_what_dvc_dag_draws_today(repo_root):
    readme = (repo_root / "README.md").read_text()
    assert current_block(readme) == block(repo_root), "the README's DAG is stale: run `make dag`"
    assert "```mermaid\nflowchart TD" in current_block(readme)


def _viz_argv(repo_root: Path) -> list[str]:
    """The command `make viz` runs (read from the Makefile), with a free port."""
    makefile = (repo_root / "Makefile").read_text()
    recipe = re.search(r"^viz:.*\n\t(.+)$", makefile, flags=re.MULTILINE)
    assert recipe, "no viz target in the Makefile"
    argv = shlex.split(recipe.group(1).replace('"$(BIN)/kedro"', str(BIN / "kedro")))
    assert argv[1:3] == ["viz", "run"] and "--no-browser" in argv
    assert argv[argv.index("--host") + 1] == "127.0.0.1"  # never on all interfaces
    argv[argv.index("--port") + 1] = "{port}"
    return argv


@pytest.mark.integration
def test_make_viz_serves_the_pipeline_graph_on_localhost(repo_root, project_factory, start_server, rest):
    from kedro.framework.project import configure_project

    from revis.pipeline_registry import register_pipelines

    root = project_factory("viz")
    base = start_server(_viz_argv(repo_root), "/api/main", cwd=root, env={"PYTHONPATH": str(root / "src")})
    graph = rest(f"{base}/api/main")
    configure_project("revis")
    registry = register_pipelines()
    assert {p["id"] for p in graph["pipelines"]} == set(registry)
    tasks = [n for n in graph["nodes"] if n["type"] == "task"]
    assert len(tasks) == len(registry["__default__"].nodes)  # every node of every pipeline is drawn
    baseline = rest(f"{base}/api/pipelines/baseline")
    names = {n["id"]: n["name"] for n in baseline["nodes"]}
    edges = {(names.get(e["source"]), names.get(e["target"])) for e in baseline["edges"]}
    assert {"train_baselines", "report_metrics"} <= set(names.values())
    assert ("train_baselines", "baseline.models") in edges and ("baseline.models", "report_metrics") in edges
    assert {"train", "evaluate"} <= {t["id"] for t in graph["tags"]}  # stage kinds are Kedro tags
