"""The whitebear pipeline: nodes wired in memory on a tiny t2i model (fast), one KedroSession run."""

import json
import re

import pytest
from memory_run import merged, run_nodes  # tests/pipelines/memory_run.py

from revis.reporting.results import to_json
from revis.reporting.summary import flat_numbers


@pytest.fixture(scope="module")
def tiny_t2i(tiny_params):
    """A tiny caption world, judge and (two-step) t2i model, through the t2i pipeline's own nodes."""
    keep = ("t2i.captions", "t2i.judge", "t2i.model", "t2i.replicates")
    out = run_nodes("t2i", {"t2i": merged(tiny_params, "t2i")}, keep=keep, tags=("ingest", "train"))
    return {k: out[k] for k in keep}


def test_whitebear_nodes_run_in_memory(tiny_t2i, tiny_params):
    out = run_nodes(
        "whitebear",
        {"whitebear": merged(tiny_params, "whitebear")},
        inputs=tiny_t2i,
        keep=("whitebear.ablation_history",),
    )
    metrics = to_json(out["whitebear.metrics"])
    assert all(re.fullmatch(r"[\w\-. :/]+", key) for key in flat_numbers(metrics))  # MLflow metric names
    rates = metrics["attack"]["rates"]
    assert set(rates) == {"base", "attack", "define", "alternative", "negative_prompt", "with", "other_negation"}
    # 2 pairs x 2 images x 2 seeds per kind; the base prompt of a word is judged once per pair
    assert all(r["trials"] == 8 for r in rates.values())
    for kind, defense in metrics["attack"]["defenses"].items():  # define, alternative, negative_prompt
        assert defense["change_points"] == pytest.approx(100 * (rates[kind]["rate"] - rates["attack"]["rate"]))
    assert all(0 <= r["rate"] <= 1 and r["ci95"][0] <= r["rate"] <= r["ci95"][1] for r in rates.values())
    assert metrics["attack"]["per_seed"]["attack"]["seeds"] == [0, 1]
    # X's colour and shape separately: finding X implies finding its colour and its shape
    for kind in rates:
        x, colour, shape = (
            metrics["attack"][k][kind]["mean"] for k in ("per_seed", "per_seed_colour", "per_seed_shape")
        )
        assert x <= colour and x <= shape
        assert metrics["attack"]["shape_rates"][kind]["trials"] == rates[kind]["trials"]
    # one fine-tuned pair per seed, each sampled with its seed: 2 pairs x 2 images x 2 seeds per arm
    assert (
        metrics["ablation"]["negation"]["attack"]["trials"] == metrics["ablation"]["control"]["attack"]["trials"] == 8
    )
    for arm in ("negation", "control"):
        assert metrics["ablation_per_seed"][arm]["attack"]["seeds"] == [0, 1]
    history = out["whitebear.ablation_history"]
    assert set(history) == {"0", "1"}
    assert [history[s]["fine_tuning_seed"] for s in ("0", "1")] == [0, 1]  # ablation.seed 0 + the chain's seed
    assert history["0"]["negation"] != history["1"]["negation"]  # its own model, batches and captions
    assert metrics["representations"]["items"] == 2 * 3 * 1
    assert set(metrics["judge"]["objects"]) == {"blue square", "red circle", "yellow circle", "green triangle"}
    assert all(h["negated_captions"] > 0 for h in history.values())


def test_whole_chain_seeds_pick_the_model_trained_with_each_seed():
    from types import SimpleNamespace

    from revis.negation.attack import models_by_seed

    def model(seed):
        return SimpleNamespace(config={"seed": seed})

    main, other = model(0), model(2)
    assert models_by_seed(main, {"2": other}, [2, 0]) == {2: other, 0: main}
    with pytest.raises(ValueError, match=r"\[1\] have no t2i model.*t2i.seeds"):
        models_by_seed(main, {"2": other}, [0, 1])


@pytest.mark.integration
def test_whitebear_runs_through_kedro_session(project_factory, kedro_run):
    root = project_factory("whitebear")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
        patch.chdir(root)
        kedro_run(root, "t2i", ["ingest"])
        kedro_run(root, "t2i", ["train"])
        kedro_run(root, "whitebear", ["train"])
        kedro_run(root, "whitebear", ["evaluate"])
    metrics = json.loads((root / "reports/whitebear/metrics.json").read_text())
    assert metrics["attack"]["rates"]["attack"]["trials"] > 0
    seeds = metrics["ablation_per_seed"]["negation"]["attack"]["seeds"]
    for arm in ("negation", "control"):  # one fine-tuned model per whole-chain seed, in its own folder
        saved = (root / f"data/06_models/whitebear/{arm}_models").glob("*/model_index.json")
        assert sorted(int(p.parent.name) for p in saved) == sorted(seeds)
    for picture in ("samples", "attack_success", "similarity", "attention"):
        assert (root / f"reports/whitebear/plots/{picture}.png").stat().st_size > 5_000
