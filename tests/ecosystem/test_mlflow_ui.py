"""The MLflow UI as a researcher sees it, in a headless Chromium (Selenium), over a tiny project's runs.

The project copy runs world, baseline (train, evaluate) and the scoreboard through KedroSessions,
then baseline again with a different learning rate; ``mlflow server`` serves its store on
127.0.0.1. Screenshots go to ``reports/ui/`` (git-ignored; CI keeps them). Skips without a browser.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
import yaml

from revis.tracking.links import compare_url, experiments, ui_url

pytestmark = pytest.mark.integration
PAGE_SECONDS = 180  # the UI's bundle is large and the machine is shared: be patient
LR = (0.02, 0.05)


@pytest.fixture(scope="module")
def tracked_project(project_factory, kedro_run) -> tuple[Path, str]:
    """(project root, tracking URI) after world, baseline x2 (learning rates LR) and the scoreboard ran."""
    root = project_factory("ui", with_metrics=True)
    store = root.parent / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(store))
        patch.chdir(root)
        params_file = root / "params.yaml"
        for lr in LR:
            params = yaml.safe_load(params_file.read_text())
            params["baseline"]["lr"] = lr
            params_file.write_text(yaml.safe_dump(params, sort_keys=False))
            if lr == LR[0]:
                kedro_run(root, "world", ["ingest"])
            kedro_run(root, "baseline", ["train"])
            kedro_run(root, "baseline", ["evaluate"])
        kedro_run(root, "scoreboard", ["report"])
    return root, f"sqlite:///{store.as_posix()}"


@pytest.fixture(scope="module")
def ui(tracked_project, mlflow_server) -> str:
    _, uri = tracked_project
    return mlflow_server(uri)


def _client(uri: str) -> Any:
    import mlflow

    return mlflow.MlflowClient(uri)


def _wait_text(browser, *texts: str) -> str:
    """The page's text once every one of ``texts`` shows (fails with the page's text otherwise)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def body() -> str:
        return browser.find_element(By.TAG_NAME, "body").text

    try:
        WebDriverWait(browser, PAGE_SECONDS, poll_frequency=1).until(lambda _: all(t in body() for t in texts))
    except TimeoutException:
        pytest.fail(f"{browser.current_url}: never showed {texts}; the page says:\n{body()[:3000]}")
    return body()


def test_the_experiments_list_shows_one_experiment_per_paper(ui, tracked_project, browser, screenshots):
    from selenium.webdriver.common.by import By

    _, uri = tracked_project
    browser.get(ui_url(ui))
    _wait_text(browser, "world", "baseline", "scoreboard")
    names = {link.text for link in browser.find_elements(By.CSS_SELECTOR, "a[href*='#/experiments/']") if link.text}
    browser.save_screenshot(str(screenshots / "experiments.png"))
    assert names == {"world", "baseline", "scoreboard"}  # no empty "Default", no "revis"
    everything = {e.name: e for e in _client(uri).search_experiments(view_type=3)}  # deleted ones too
    assert everything.get("Default") is None or everything["Default"].lifecycle_stage == "deleted"
    assert "revis" not in everything


def test_a_papers_link_opens_its_runs_table_not_the_genai_overview(ui, tracked_project, browser, screenshots):
    _, uri = tracked_project
    ids = {name: experiment_id for experiment_id, name in experiments(uri)}  # what `make ui` prints
    assert set(ids) == {"world", "baseline", "scoreboard"}
    browser.get(ui_url(ui, ids["baseline"]))
    text = _wait_text(browser, "baseline-evaluate", "baseline-train")
    browser.save_screenshot(str(screenshots / "runs_table.png"))
    assert "/runs" in browser.current_url and "workflowType=machine_learning" in browser.current_url
    assert "Run Name" in text and "4 matching runs" in text  # two baseline rounds x (train, evaluate)
    assert "Token Usage" not in text and "Traces\n0" not in text  # not the GenAI overview


def test_the_model_training_switch_is_remembered_by_the_browser(ui, tracked_project, browser, screenshots):
    """README: click "Model training" once and plain experiment links open runs tables too."""
    from selenium.webdriver.common.by import By

    _, uri = tracked_project
    ids = {name: experiment_id for experiment_id, name in experiments(uri)}
    browser.get(f"{ui}/#/experiments")
    _wait_text(browser, "Model training")
    browser.find_element(By.XPATH, "//*[normalize-space(text())='Model training']").click()
    browser.get(f"{ui}/#/experiments/{ids['world']}")
    _wait_text(browser, "world-ingest", "Run Name")
    assert "/runs" in browser.current_url
    browser.save_screenshot(str(screenshots / "runs_table_after_switch.png"))


def test_the_compare_view_of_two_evaluate_runs_shows_the_changed_parameter(ui, tracked_project, browser, screenshots):
    from selenium.webdriver.common.by import By

    _, uri = tracked_project
    client = _client(uri)
    baseline = client.get_experiment_by_name("baseline")
    runs = client.search_runs([baseline.experiment_id], "tags.dvc_stage = 'baseline-evaluate'", order_by=["start_time"])
    assert [r.data.params["baseline.lr"] for r in runs] == [str(lr) for lr in LR]
    assert runs[0].data.tags["params_hash"] != runs[1].data.tags["params_hash"]
    browser.get(compare_url(ui, baseline.experiment_id, [r.info.run_id for r in runs]))
    _wait_text(browser, "Comparing 2 Runs", "baseline.lr", "baseline.epochs")

    def row(param: str) -> Any:
        xpath = f"//table[contains(@class, 'compare-table')]//tr[th[normalize-space()='{param}']]"
        return browser.find_element(By.XPATH, xpath)

    changed, same = row("baseline.lr"), row("baseline.epochs")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", changed)
    browser.save_screenshot(str(screenshots / "compare_evaluate_runs.png"))
    assert sorted(cell.text for cell in changed.find_elements(By.TAG_NAME, "td")) == ["0.02", "0.05"]
    assert "diff-row" in changed.get_attribute("class")  # MLflow marks it as a difference
    assert {cell.text for cell in same.find_elements(By.TAG_NAME, "td")} == {"1"}
    assert "diff-row" not in same.get_attribute("class")


def test_a_plot_artifact_renders(ui, tracked_project, browser, screenshots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    root, uri = tracked_project
    client = _client(uri)
    baseline = client.get_experiment_by_name("baseline")
    run = client.search_runs([baseline.experiment_id], "tags.dvc_stage = 'baseline-evaluate'", max_results=1)[0]
    png = (root / "reports/baseline/plots/training_curves.png").read_bytes()
    width = struct.unpack(">I", png[16:20])[0]  # the PNG header's width
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
    browser.save_screenshot(str(screenshots / "plot_artifact.png"))
    assert width in sizes  # the image the UI shows is the PNG the stage wrote, decoded by the browser
