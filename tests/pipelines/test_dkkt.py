"""dkkt: the wiring in memory (fast), on dsv's tiny teachers."""

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from revis.datasets.imageset import ImageSet
from revis.reporting.claims import ClaimsFile, claim_paths, lookup
from revis.reporting.results import to_json
from revis.reporting.summary import flat_numbers

REPO = Path(__file__).resolve().parents[2]


def merged(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def image_set(n_per_class: int, classes: int, size: int, channels: int, seed: int) -> ImageSet:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), n_per_class)
    images = rng.integers(0, 60, (len(labels), size, size, channels), dtype=np.uint8)
    for i, c in enumerate(labels):
        images[i, c % size] = 220
    return ImageSet(images, labels, [str(c) for c in range(classes)])


def test_dkkt_wiring_in_memory(run_in_memory, tiny_params):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    tiny = {s: merged(params[s], tiny_params.get(s, {})) for s in ("dsv", "dkkt")}
    inputs = {  # 100 digits per class: 2 % is two images per class, 10 % ten
        "world.digits": {"train": image_set(100, 10, 8, 1, 0), "test": image_set(3, 10, 8, 1, 1)},
        "world.shapes": {"train": image_set(200, 5, 16, 3, 2), "test": image_set(3, 5, 16, 3, 3)},
    }
    out = dict(inputs)
    out.update(run_in_memory("dsv", inputs=out, params=tiny, tags=["features"]))
    for kind in ("distill", "train", "evaluate"):
        out.update(run_in_memory("dkkt", inputs=out, params=tiny, tags=[kind]))
    metrics = to_json(out["dkkt.metrics"])
    digits = metrics["digits"]
    assert set(digits["methods"]) == {"random", "dm", "dm_dkkt", "dsv", "union", "random_x2", "dm_x2", "dsv_x2"}
    for by_fraction in digits["methods"].values():  # every set scored once per whole-chain seed, in [0, 1]
        for summary in (s for by_ipc in by_fraction.values() for s in by_ipc.values()):
            assert summary["seeds"] == [0, 1] and all(0 <= v <= 1 for v in summary["values"])
    # the DKKT gain is DM + Deep-KKT minus DM, seed by seed
    gain, kkt, dm = (
        digits["dkkt_minus_dm"]["2pct"]["1"],
        digits["methods"]["dm_dkkt"]["2pct"]["1"],
        digits["methods"]["dm"]["2pct"]["1"],
    )
    assert gain["values"] == pytest.approx([a - b for a, b in zip(kkt["values"], dm["values"])])
    assert digits["gap_at_smallest_fraction"] == gain
    # ipc 200 needs 400 visible images per class: skipped at every fraction
    assert set(digits["methods"]["dm"]) == {"2pct", "10pct"} and set(digits["methods"]["dm"]["10pct"]) == {"1"}
    assert digits["methods"]["union"]["10pct"]["1"]["n"] == 2 and digits["visible_images"] == {"2pct": 20, "10pct": 100}
    assert digits["chance"] == 0.1 and metrics["shapes"]["chance"] == 0.2
    # λ_dkkt chosen per seed on a validation split outside the starting images (2 % visible: one image per class)
    choice = digits["weight_choice"]["2pct"]["1"]
    assert set(choice["chosen"]["values"]) <= {0.5, 2.0} and choice["validation_images"]["values"] == [10.0, 10.0]
    assert set(choice["validation_accuracy"]) == {"0_5", "2"}
    assert digits["weight_choice"]["10pct"]["1"]["validation_images"]["values"] == [30.0, 30.0]
    # every DM, DM + DKKT and DSV run of the two seeds went through the divergence guard
    assert digits["guard"]["runs"] == 2 * 2 * 5 and digits["guard"]["diverged"] == len(
        [r for r in digits["guard"]["diverged_runs"].split(", ") if r]
    )
    assert digits["gap_at_smallest_fraction"]["n"] == 2 and digits["gap_at_largest_fraction"]["n"] == 2
    assert set(metrics["shapes"]["methods"]["dm"]) == {"1pct"}  # 1 % of 200 per class: two images
    dm_run = digits["dm"]["dm"]["10pct"]["1"]
    assert dm_run["loss_start"]["n"] == 2 and dm_run["loss_end"]["mean"] >= 0 and dm_run["pixel_change"]["mean"] >= 0
    networks = out["dkkt.networks"]["networks"]
    union = {f"digits/union/{f}/1/{s}" for f in ("2pct", "10pct") for s in (0, 1)}
    assert {k for k in networks if k.startswith("digits/union/")} == union
    assert networks["digits/union/10pct/1/0"]["size"] == 20 == networks["digits/dm_x2/10pct/1/0"]["size"]
    # shapes sets are scored by the mean of dkkt.networks.shapes networks (replicates "~r", seeded 1000·r apart)
    replicates = params["dkkt"]["networks"]["shapes"]
    assert replicates > 1 and "digits" not in params["dkkt"]["networks"]
    assert {k for k in networks if k.startswith("shapes/dm/1pct/1/0")} == {
        "shapes/dm/1pct/1/0",
        *(f"shapes/dm/1pct/1/0~{r}" for r in range(1, replicates)),
    }
    assert [networks[f"shapes/dm/1pct/1/0~{r}"]["seed"] for r in range(1, replicates)] == [
        1000 * r for r in range(1, replicates)
    ]
    assert not any("~" in k for k in networks if k.startswith("digits/"))
    claims = ClaimsFile.model_validate(yaml.safe_load((REPO / "claims/dkkt.yaml").read_text()))
    for claim in claims.claims:  # the tiny sizes produce every metric a claim reads
        for path in claim_paths(claim):
            lookup(metrics, path)
    assert [m for m in flat_numbers(metrics) if claims.rule_for(m) is None] == []
