"""dsv: the wiring in memory (fast) and one KedroSession run of the tiny project (integration)."""

import copy
from pathlib import Path

import numpy as np
import yaml

from revis.datasets.imageset import ImageSet
from revis.dvc_stages import project_document
from revis.reporting.claims import ClaimsFile, claim_paths, lookup
from revis.reporting.results import to_json
from revis.reporting.summary import flat_numbers

REPO = Path(__file__).resolve().parents[2]


def merged(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def tiny_project_params(tiny_params: dict, *sections: str) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    return {s: merged(params[s], tiny_params.get(s, {})) for s in sections}


def image_set(n_per_class: int, classes: int, size: int, channels: int, seed: int) -> ImageSet:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n_per_class)
    images = rng.integers(0, 60, (len(labels), size, size, channels), dtype=np.uint8)
    for i, c in enumerate(labels):  # a class-dependent bright stripe: learnable
        images[i, c % size] = 220
    return ImageSet(images, labels, [str(c) for c in range(classes)])


def world_inputs() -> dict:
    return {
        "world.digits": {"train": image_set(12, 10, 8, 1, 0), "test": image_set(3, 10, 8, 1, 1)},
        "world.shapes": {"train": image_set(10, 5, 16, 3, 2), "test": image_set(3, 5, 16, 3, 3)},
    }


def run_stages(run_in_memory, pipeline: str, inputs: dict, params: dict, kinds: list[str]) -> dict:
    """The pipeline stage by stage (as DVC runs it), each stage's outputs handed to the next."""
    out = dict(inputs)
    for kind in kinds:
        out.update(run_in_memory(pipeline, inputs=out, params=params, tags=[kind]))
    return out


DSV_STAGES = ["features", "select", "distill", "train", "evaluate"]


def test_dsv_wiring_in_memory(run_in_memory, tiny_params):
    out = run_stages(run_in_memory, "dsv", world_inputs(), tiny_project_params(tiny_params, "dsv"), DSV_STAGES)
    metrics = to_json(out["dsv.metrics"])
    digits = metrics["digits"]
    # every retrained set is scored once per whole-chain seed (digits 0, 1; shapes 0), accuracies in [0, 1]
    for name, seeds in (("digits", [0, 1]), ("shapes", [0])):
        for group in ("retrain", "dsv"):
            for by_size in metrics[name][group].values():
                for summary in by_size.values():
                    assert summary["seeds"] == seeds and summary["n"] == len(seeds)
                    assert all(0 <= v <= 1 for v in summary["values"])
    assert set(digits["retrain"]) == {"top_lambda", "random"} and set(digits["retrain"]["random"]) == {"1", "5", "10"}
    assert set(digits["dsv"]) == {"zero_shot", "few_shot", "zero_shot_primal", "few_shot_primal"}
    assert set(digits["dsv"]["zero_shot_primal"]) == {"5"}  # the primal-only ablation runs at primal_only_at only
    # chance: the most frequent test class (3 of each of 10 digits, 3 of each of 5 shapes)
    assert digits["chance"] == 0.1 and metrics["shapes"]["chance"] == 0.2
    teacher = digits["teacher"]
    assert teacher["stationarity_ratio"]["mean"] >= 0 and 0 <= teacher["test_accuracy"]["mean"] <= 1
    assert -1 <= teacher["cosine"]["mean"] <= 1 and 0 < digits["lambda"]["alive_fraction"]["mean"] <= 1
    for rho in (digits["correlation"]["spearman"], digits["correlation"]["pearson"]):
        assert rho is None or all(-1 - 1e-9 <= v <= 1 + 1e-9 for v in rho["values"])
    assert digits["ablation"]["few_shot"]["5"]["image_gap"]["mean"] >= 0
    for key, stats in digits["synthesis"]["few_shot"].items():
        assert 0 <= stats["alive_fraction"]["mean"] <= 1 and stats["pixel_change"]["mean"] >= 0, key
    # every synthesis (2 seeds x 6 variants) went through the divergence guard; a diverged one is named
    guard = digits["guard"]
    assert guard["runs"] == 12 and guard["diverged"] == len([r for r in guard["diverged_runs"].split(", ") if r])
    assert 0 <= guard["restarted"] <= guard["runs"]
    assert len(out["dsv.teachers"]["runs"]) == 3 and set(out["dsv.subsets"]) == {"digits/0", "digits/1", "shapes/0"}
    claims = ClaimsFile.model_validate(yaml.safe_load((REPO / "claims/dsv.yaml").read_text()))
    for claim in claims.claims:  # the tiny sizes produce every metric a claim reads
        for path in claim_paths(claim):
            lookup(metrics, path)
    assert [m for m in flat_numbers(metrics) if claims.rule_for(m) is None] == []


def test_stages_keep_the_teachers_out_of_retraining_and_dkkt_reads_dsvs_teachers():
    stages = project_document(REPO)["stages"]
    assert "dsv.evaluation" not in stages["dsv-features"]["params"]
    assert "dsv.evaluation" in stages["dsv-train"]["params"] and "dsv.evaluation" in stages["dkkt-train"]["params"]
    assert "data/06_models/dsv/teachers.pt" in stages["dsv-select"]["deps"]
    assert "data/05_model_input/dsv/subsets.json" in stages["dsv-train"]["deps"]
    assert "data/06_models/dsv/teachers.pt" in stages["dkkt-distill"]["deps"]
    assert "dkkt.distill" not in stages["dkkt-train"]["params"]
    for path in (REPO / "src/revis/pipelines/dkkt").glob("*.py"):  # what they share lives in the library
        assert "revis.pipelines.dsv" not in path.read_text(), path
