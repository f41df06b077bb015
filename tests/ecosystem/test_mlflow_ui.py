"""The MLflow UI as a researcher walks it, in a headless Chromium (Selenium), after a ``dvc exp run -S``.

A tiny git + DVC copy of the project runs ``dvc repro`` of the world -> baseline chain and the
scoreboard, then ``dvc exp run -S baseline.lr=0.05``: two ``baseline-evaluate`` runs to compare.
Its claims file gets one ``paper`` claim (baseline has only sanity claims) so that the evaluate
runs carry a headline. ``mlflow server --app-name revis`` (what ``make ui`` runs) serves the
store. The walk: the link ``make ui`` prints -> the experiments list -> an experiment -> a run ->
its breadcrumb -> Compare of the two evaluate runs -> its breadcrumb; every page must be a runs
table or a run, never MLflow's GenAI view. Screenshots go to ``reports/ui/`` (git-ignored; CI
keeps them). Skips without a browser.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml

from revis.tracking.links import MANUAL_STEP, compare_url, experiments

pytestmark = pytest.mark.slow  # dvc repro and dvc exp run in a copy, then a browser
PAGE_SECONDS = 180  # the UI's bundle is large and the machine is shared: be patient
BIN = Path(sys.executable).parent
BREADCRUMB = "//*[contains(@class, 'breadcrumb')]"
LR = (0.02, 0.05)
GENAI = ("Token Usage", "Detect Issues", "Start Demo", "Traces\n0", "Welcome to MLflow")
UI_CLAIM = {
    "id": "ui_walk_beats_chance",
    "kind": "paper",
    "claim": "The ConvNet beats chance on the shapes world (a paper claim for the UI walk)",
    "compare": {"metric": "shapes.test_accuracy", "baseline": "shapes.chance", "direction": "greater"},
}


def _env(root: Path) -> dict[str, str]:
    """A fresh shell for the copy (its own src first; the project's store next to it)."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI")}
    return {**env, "PATH": path, "PYTHONPATH": str(root / "src"), "REVIS_MLFLOW_DB": str(root.parent / "mlflow.db")}


def _run(root: Path, *argv: str) -> str:
    done = subprocess.run(list(argv), cwd=root, capture_output=True, text=True, timeout=3600, env=_env(root))
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def tracked_project(git_dvc_project, repo_root) -> tuple[Path, str]:
    """(copy, tracking URI) after ``dvc repro`` (lr 0.02), the scoreboard, and ``dvc exp run -S baseline.lr=0.05``."""
    root = git_dvc_project("ui")
    (root / ".venv").symlink_to(BIN.parent)  # as `make install` leaves it; ./run-stage uses it
    with (root / ".gitignore").open("a") as ignore:
        ignore.write("/.venv\n")
    for metrics in repo_root.glob("reports/*/metrics.json"):  # the scoreboard reads every paper's
        (root / metrics.relative_to(repo_root)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(metrics, root / metrics.relative_to(repo_root))
    claims = yaml.safe_load((root / "claims/baseline.yaml").read_text())
    claims["claims"].append({**UI_CLAIM, "compare": {**UI_CLAIM["compare"], "test": "one_sample"}})
    (root / "claims/baseline.yaml").write_text(yaml.safe_dump(claims, sort_keys=False))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["baseline"]["lr"] = LR[0]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(root, "git", "add", "-A")
    _run(root, "git", "commit", "-q", "-m", "the UI walk's copy")
    _run(root, str(BIN / "dvc"), "repro", "baseline-evaluate")
    _run(root, str(BIN / "dvc"), "repro", "--single-item", "scoreboard-report")
    _run(root, "git", "add", "-A")
    _run(root, "git", "commit", "-q", "-m", "results")
    _run(root, str(BIN / "dvc"), "exp", "run", "-S", f"baseline.lr={LR[1]}", "baseline-evaluate")
    return root, f"sqlite:///{(root.parent / 'mlflow.db').as_posix()}"


@pytest.fixture(scope="module")
def ui(tracked_project, start_server, tmp_path_factory) -> str:
    """``mlflow server --app-name revis`` over the copy's store, as ``make ui`` starts it."""
    _, uri = tracked_project
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    if not any(e.name == "revis" for e in entry_points(group="mlflow.app")):
        # an editable install made before pyproject.toml declared the entry point (`make install` adds it)
        dist = tmp_path_factory.mktemp("entry-point") / "revis_mlflow_app-0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: revis-mlflow-app\nVersion: 0\n")
        (dist / "entry_points.txt").write_text("[mlflow.app]\nrevis = revis.tracking.ui:app\n")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(dist.parent), env["PYTHONPATH"]) if p)
    argv = [str(BIN / "mlflow"), "server", "--app-name", "revis", "--backend-store-uri", uri]
    return start_server([*argv, "--host", "127.0.0.1", "--port", "{port}", "--workers", "1"], "/health", env=env)


def _client(uri: str) -> Any:
    import mlflow

    return mlflow.MlflowClient(uri)


def _body(browser) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.TAG_NAME, "body").text


def _wait_text(browser, *texts: str) -> str:
    """The page's text once every one of ``texts`` shows (fails with the page's text otherwise)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(browser, PAGE_SECONDS, poll_frequency=1).until(lambda _: all(t in _body(browser) for t in texts))
    except TimeoutException:
        pytest.fail(f"{browser.current_url}: never showed {texts}; the page says:\n{_body(browser)[:3000]}")
    return _body(browser)


def _runs_table(browser, *texts: str) -> str:
    """A runs table (model-training view, not GenAI's overview) showing ``texts``."""
    text = _wait_text(browser, "Run Name", "matching runs", *texts)
    assert "/runs" in browser.current_url, browser.current_url
    assert not [g for g in GENAI if g in text], text[:2000]
    return text


def _click(browser, text: str, within: str = "") -> None:
    from selenium.webdriver.common.by import By

    link = browser.find_element(By.XPATH, f"{within}//a[normalize-space()='{text}']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()


def test_the_walk_from_the_printed_link_to_compare_stays_on_runs_tables(
    ui, tracked_project, browser, screenshots, repo_root
):
    from selenium.webdriver.common.by import By

    root, uri = tracked_project
    title = yaml.safe_load((root / "claims/baseline.yaml").read_text())["title"]
    client = _client(uri)
    baseline = client.get_experiment_by_name("baseline")
    evaluate = client.search_runs(
        [baseline.experiment_id], "tags.dvc_stage = 'baseline-evaluate'", order_by=["attributes.start_time ASC"]
    )
    assert [r.data.params["baseline.lr"] for r in evaluate] == [str(lr) for lr in LR]
    assert "dvc_exp" in evaluate[1].data.tags and "dvc_exp" not in evaluate[0].data.tags  # the experiment's run

    # what `make ui` prints: one link per paper, and the manual step for servers it does not start
    printed = _run(root, str(BIN / "python"), "-m", "revis.tracking.links", "--url", ui, "--tracking-uri", uri)
    assert MANUAL_STEP in printed
    links = dict(re.findall(r"^\s+(\S+)\s+(http\S+)$", printed, re.MULTILINE))
    assert set(links) == {"world", "baseline", "scoreboard"}

    # 1. the server's home page is the experiments list (not GenAI's "Welcome"), each paper with its title
    browser.get(ui)
    text = _wait_text(browser, "baseline", "scoreboard", title)
    assert "Model training" in text and not [g for g in GENAI if g in text]
    browser.save_screenshot(str(screenshots / "01_experiments.png"))

    # 2. an experiment clicked in the list: its runs table, titled
    _click(browser, "baseline")
    _runs_table(browser, "baseline-evaluate", "baseline-train", title)
    browser.save_screenshot(str(screenshots / "02_runs_table.png"))

    # 3. a run: its description (the headline) comes before its metrics, timings in their own group
    browser.get(f"{ui}/#/experiments/{baseline.experiment_id}/runs/{evaluate[1].info.run_id}")
    text = _wait_text(browser, "ui_walk_beats_chance", "headline/ui_walk_beats_chance", "system/timing/stage_s")
    assert text.index("ui_walk_beats_chance") < text.index("system/timing/")
    assert text.index("headline/ui_walk_beats_chance") < text.index("shapes.test_accuracy.mean")
    assert "revis.pid" not in text and "revis.host" not in text
    browser.save_screenshot(str(screenshots / "03_evaluate_run.png"))

    # 4. its breadcrumb back to the experiment: the runs table again, not the GenAI overview
    _click(browser, "baseline", within=BREADCRUMB)
    _runs_table(browser, "baseline-evaluate")
    browser.save_screenshot(str(screenshots / "04_breadcrumb.png"))

    # 5. Compare of the two evaluate runs: the changed parameter marked, the rest not
    browser.get(compare_url(ui, baseline.experiment_id, [r.info.run_id for r in evaluate]))
    _wait_text(browser, "Comparing 2 Runs", "baseline.lr", "baseline.epochs")

    def row(param: str) -> Any:
        xpath = f"//table[contains(@class, 'compare-table')]//tr[th[normalize-space()='{param}']]"
        return browser.find_element(By.XPATH, xpath)

    changed, same = row("baseline.lr"), row("baseline.epochs")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", changed)
    browser.save_screenshot(str(screenshots / "05_compare_evaluate_runs.png"))
    assert sorted(cell.text for cell in changed.find_elements(By.TAG_NAME, "td")) == [str(lr) for lr in LR]
    assert "diff-row" in changed.get_attribute("class")  # MLflow marks it as a difference
    assert "diff-row" not in same.get_attribute("class")

    # 6. the Compare page's breadcrumb: the runs table
    _click(browser, "baseline", within=BREADCRUMB)
    _runs_table(browser, "baseline-train")
    browser.save_screenshot(str(screenshots / "06_compare_breadcrumb.png"))


def test_every_training_run_shows_a_step_curve(ui, tracked_project, browser, screenshots):
    _, uri = tracked_project
    client = _client(uri)
    experiments_by_name = {name: i for i, name in experiments(uri)}
    runs = client.search_runs(list(experiments_by_name.values()), "tags.stage_kind = 'train'")
    assert len(runs) == 2  # baseline-train before and in the experiment
    for n, run in enumerate(runs):
        curves = [k for k in run.data.metrics if k.count("/") == 3 and not k.startswith("system/")]
        assert curves and all(k.startswith("baseline/") for k in curves), sorted(run.data.metrics)
        browser.get(
            f"{ui}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}/model-metrics?workflowType=machine_learning"
        )
        text = _wait_text(browser, "baseline/digits/seed0", "Step")
        assert "timing" not in text  # timings live under "System metrics"
        browser.save_screenshot(str(screenshots / f"07_training_curves_{n}.png"))


def test_a_plot_artifact_renders(ui, tracked_project, browser, screenshots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, uri = tracked_project
    client = _client(uri)
    baseline = client.get_experiment_by_name("baseline")
    run = client.search_runs(
        [baseline.experiment_id], "tags.dvc_stage = 'baseline-evaluate'", order_by=["attributes.start_time ASC"]
    )[0]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "metrics_table.csv"} <= artifacts  # every number, per seed
    png = client.download_artifacts(run.info.run_id, "plots/training_curves.png")
    width = struct.unpack(">I", Path(png).read_bytes()[16:20])[0]  # the PNG header's width
    browser.get(
        f"{ui}/#/experiments/{baseline.experiment_id}/runs/{run.info.run_id}"
        "/artifacts/plots/training_curves.png?workflowType=machine_learning"
    )
    _wait_text(browser, "training_curves.png")

    def rendered(_: Any) -> list[int]:
        sizes = [
            browser.execute_script("return arguments[0].complete ? arguments[0].naturalWidth : 0", img)
            for img in browser.find_elements(By.CSS_SELECTOR, "img[src^='blob:']")
        ]
        return [s for s in sizes if s]

    sizes = WebDriverWait(browser, PAGE_SECONDS, poll_frequency=1).until(rendered)
    browser.save_screenshot(str(screenshots / "08_plot_artifact.png"))
    assert width in sizes  # the image the UI shows is the PNG the stage wrote, decoded by the browser
