import json
import re
from pathlib import Path

import pytest
import yaml

from revis.config.loader import RevisConfigLoader
from revis.config.schema import ParameterError, validate_params

REPO = Path(__file__).resolve().parents[2]


def committed_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_committed_params_are_valid():
    sections = validate_params(committed_params())
    assert {"world", "baseline"} <= set(sections)


@pytest.mark.parametrize(
    ("section", "key", "value", "named"),
    [
        ("baseline", "epoch", 3, "'baseline.epoch': unknown parameter"),
        ("baseline", "epochs", "ten", "'baseline.epochs'"),
        ("baseline", "epochs", 2.5, "'baseline.epochs'"),
        ("baseline", "lr", -0.1, "'baseline.lr'"),
        ("baseline", "datasets", ["shapes", "cifar11"], "'baseline.datasets.1'"),
        ("world", "seed", -1, "'world.seed'"),
    ],
)
def test_bad_values_fail_with_one_message_naming_the_key(section, key, value, named):
    params = committed_params()
    params[section][key] = value
    with pytest.raises(ParameterError) as info:
        validate_params(params)
    assert named in str(info.value) and str(info.value).startswith("invalid parameters in params.yaml")


def test_nested_and_section_errors_are_named():
    params = committed_params()
    params["baseline"]["model"]["norm"] = "layernorm"
    params["world"]["shapes"]["distractors"] = [3, 1]
    params["dsvv"] = {}
    with pytest.raises(ParameterError) as info:
        validate_params(params)
    message = str(info.value)
    assert "'baseline.model.norm'" in message and "'world.shapes.distractors'" in message
    assert "'dsvv': unknown parameter section" in message


def test_invalid_params_fail_before_any_compute(project, kedro_run):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["baseline"]["epochs"] = 0
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ParameterError, match=re.escape("'baseline.epochs'")):
        kedro_run(project, "world")
    assert not (project / "data").exists() and not (project / "reports" / "world").exists()


def test_local_overrides_apply_to_local_env_only(project):
    (project / "conf" / "local" / "parameters.yml").write_text("baseline:\n  epochs: 7\n")
    local = RevisConfigLoader(str(project / "conf"), base_env="base", default_run_env="local")["parameters"]
    base = RevisConfigLoader(str(project / "conf"), base_env="base", default_run_env="base")["parameters"]
    runtime = RevisConfigLoader(
        str(project / "conf"), base_env="base", default_run_env="local", runtime_params={"baseline": {"epochs": 9}}
    )["parameters"]
    assert (local["baseline"]["epochs"], base["baseline"]["epochs"], runtime["baseline"]["epochs"]) == (7, 1, 9)
    assert local["baseline"]["lr"] == base["baseline"]["lr"]  # the rest still comes from params.yaml


@pytest.mark.integration  # two KedroSession runs in a project copy
def test_a_value_changed_in_params_yaml_reaches_the_node(project, kedro_run):
    kedro_run(project, "world")
    for epochs in (2, 3):
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["baseline"]["epochs"] = epochs
        (project / "params.yaml").write_text(yaml.safe_dump(params))
        kedro_run(project, "baseline", tags=["train"])
        histories = json.loads((project / "data" / "06_models" / "baseline" / "histories.json").read_text())
        assert {len(h["loss"]) for h in histories.values()} == {epochs}
