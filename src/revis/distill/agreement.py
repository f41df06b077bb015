"""Does a cheap evaluation protocol rank distilled sets as the reference protocol does?

The dsv/dkkt pipelines score sets with a scaled-down ``evaluate_synset`` (width 16, 150
epochs); the papers use width 128 and 1,000 epochs. A cheaper protocol is acceptable for the
claims (which compare sets) when it orders the sets as the reference does. ``rank_agreement``
trains one network per (set, protocol) and reports, per protocol, each set's accuracy and,
between two protocols, Spearman's ρ over the sets and the share of set pairs ordered alike.

``python -m revis.distill.agreement`` runs the study on scikit-learn digits: random real, DM,
DSV and DM + Deep-KKT sets at 1 and 10 per class, per seed (README, "evaluation protocol").
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch

from revis.distill.config import EvalProtocol
from revis.distill.evaluation import score, spearman, train_on_set


def concordance(a: list[float], b: list[float]) -> float:
    """Share of pairs (i, j) ordered the same way by ``a`` and ``b`` (ties in either count as half)."""
    pairs = list(itertools.combinations(range(len(a)), 2))
    if not pairs:
        raise ValueError("concordance needs at least two values")
    agree = 0.0
    for i, j in pairs:
        da, db = a[i] - a[j], b[i] - b[j]
        agree += 0.5 if da == 0 or db == 0 else float((da > 0) == (db > 0))
    return agree / len(pairs)


def rank_agreement(
    sets: dict[str, tuple[torch.Tensor, torch.Tensor]],
    protocols: dict[str, EvalProtocol],
    test: tuple[torch.Tensor, torch.Tensor],
    shape: tuple[int, int, int],
    seed: int,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Accuracy of every set under every protocol (one network each, seeded), and the agreement of each pair.

    Set by set (every protocol on one set before the next), each result passed to ``log`` as it comes.
    """
    accuracy: dict[str, dict[str, float]] = {name: {} for name in protocols}
    for key, (x, y) in sets.items():
        for name, protocol in protocols.items():
            accuracy[name][key] = score(train_on_set(x, y, shape, protocol, seed), *test)
            if log is not None:
                log(f"seed {seed} {key} {name} {accuracy[name][key]:.4f}")
    keys = list(sets)
    agreement = {}
    for first, second in itertools.combinations(protocols, 2):
        a, b = [accuracy[first][k] for k in keys], [accuracy[second][k] for k in keys]
        agreement[f"{first}~{second}"] = {"spearman": spearman(a, b), "concordance": concordance(a, b)}
    return {"accuracy": accuracy, "agreement": agreement}


def _digits_study(seeds: list[int], protocols: dict[str, EvalProtocol]) -> dict[str, Any]:  # pragma: no cover
    """Random real, DM, DSV and DM + Deep-KKT sets at 1 and 10 per class from params.yaml's settings."""
    import yaml

    from revis.datasets.digits import sklearn_digits
    from revis.distill.config import dm_for
    from revis.distill.data import load_splits
    from revis.distill.dm import DMJob, dm_job
    from revis.kkt.real import random_per_class
    from revis.kkt.synthesis import DMDKKTJob, SynthesisJob, dm_dkkt_job, synthesize_job
    from revis.kkt.teacher import TeacherJob, TeacherState, fit_teacher
    from revis.pipelines.dkkt.params import Params as DKKT
    from revis.pipelines.dsv.params import Params as DSV
    from revis.training import TrainConfig

    with open("params.yaml") as handle:
        params = yaml.safe_load(handle)
    dsv, dkkt = DSV.model_validate(params["dsv"]), DKKT.model_validate(params["dkkt"])
    digits = sklearn_digits(params["world"]["digits"]["test_fraction"], params["world"]["seed"])
    splits = load_splits("digits", {}, digits, dsv.data)
    recipe = TrainConfig(**dsv.teacher.model_dump(exclude={"model", "polish_iterations"}))
    x, y = splits.x_train, splits.y_train
    out = {}
    for seed in seeds:
        job = TeacherJob(x, y, splits.shape, dsv.teacher.model, recipe, dsv.teacher.polish_iterations, seed)
        fitted = fit_teacher(job)
        teacher = TeacherState(dsv.teacher.model, fitted["shape"], fitted["state_dict"], fitted["weight_decay"])
        sets = {}
        for ipc in (1, 10):
            start = random_per_class(y, ipc, seed)
            x0, y0 = x[start], y[start]
            dm = DMJob(x, y, dm_for("digits", dkkt.distill.dm), 10, seed, x0, y0)
            sets[f"random/{ipc}"] = (x0, y0)
            sets[f"dm/{ipc}"] = tuple(dm_job(dm)[k] for k in ("images", "labels"))
            kkt = DMDKKTJob(dm, teacher, dkkt.distill.dkkt, dkkt.distill.dkkt.grid[0])
            sets[f"dm_dkkt/{ipc}"] = tuple(dm_dkkt_job(kkt)[k] for k in ("images", "labels"))
            dsv_job = SynthesisJob(teacher, x[:4], x0, y0, splits.bounds(), dsv.distill, False, seed)
            synthesized = synthesize_job(dsv_job)
            sets[f"dsv/{ipc}"] = (synthesized["images"], synthesized["labels"])
        test = (splits.x_test, splits.y_test)
        out[str(seed)] = rank_agreement(
            sets, protocols, test, splits.shape, seed, log=lambda line: print(line, flush=True)
        )
        print(seed, out[str(seed)], flush=True)
    return out


if __name__ == "__main__":  # pragma: no cover
    import argparse
    import json

    import yaml

    from revis.distill.config import protocol_for

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--protocols", nargs="+", default=["pipeline", "w16_1000", "reference"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    with open("params.yaml") as handle:
        pipeline = EvalProtocol.model_validate(yaml.safe_load(handle)["dsv"]["evaluation"])
    protocols = {
        "pipeline": protocol_for("digits", pipeline),
        "w16_1000": protocol_for("digits", pipeline.model_copy(update={"epochs": 1000, "lr": 0.01})),
        "reference": protocol_for("digits", EvalProtocol.model_validate({})),  # the reference's defaults
    }
    result = _digits_study(args.seeds, {name: protocols[name] for name in args.protocols})
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(result, handle, indent=1)
