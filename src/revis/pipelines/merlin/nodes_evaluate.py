"""``merlin-evaluate``: five rounds per query for every questioner, alpha convention and answer noise; controls."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from revis.datasets.qvhighlights import VideoCorpus
from revis.pipelines.merlin.params import EvaluateParams, LLMParams
from revis.reporting.summary import mean_std
from revis.retrieval.embedding import CachedTextEmbedder, encoders_by_seed, vl_text_fn
from revis.retrieval.interactive import run_rounds, transcript
from revis.retrieval.pictures import example_figure, recall_figure
from revis.retrieval.queries import Query
from revis.retrieval.questioners import EntropyQuestioner, LLMQuestioner, Questioner, RuleQuestioner
from revis.retrieval.ranking import rank_metrics, target_ranks
from revis.retrieval.user import SimulatedUser
from revis.runtime import apply_runtime

MEASURES = ("r1", "r5", "r10", "mdr", "mnr")


def _questioner(name: str, llm: LLMParams, seed: int) -> Questioner:
    if name == "rule":
        return RuleQuestioner()
    if name == "entropy":
        return EntropyQuestioner()
    if llm.backend == "http":
        from revis.retrieval.llm import HttpChat

        backend: Any = HttpChat(llm.url or "", llm.model, llm.api_key_env, llm.timeout, llm.max_consecutive_failures)
    else:
        from revis.retrieval.llm import TransformersChat

        backend = TransformersChat(llm.path or "", seed=seed)
    return LLMQuestioner(backend, llm.temperature, llm.later_temperature, llm.max_tokens)


def conditions(evaluate: EvaluateParams) -> list[dict[str, Any]]:
    """Every (questioner, convention, noise) arm, then the negative control (answers about another video)."""
    out = [
        {"name": f"{q}_{c}_noise{round(p * 100)}", "questioner": q, "convention": c, "noise": p, "control": False}
        for q in evaluate.questioners
        for c in evaluate.conventions
        for p in evaluate.noise
    ]
    if evaluate.control:
        q, c = evaluate.questioners[0], evaluate.conventions[0]
        out.append({"name": f"control_{q}_{c}", "questioner": q, "convention": c, "noise": 0.0, "control": True})
    return out


def run_interactive_retrieval(
    features: dict[str, Any], encoders: dict[str, Any], videos: VideoCorpus, evaluate: EvaluateParams
) -> tuple[dict[str, Any], dict[str, Any], plt.Figure, plt.Figure]:
    """Ranks per round for every condition and seed; R@1/5/10, MdR, MnR as mean +- sd over seeds; pictures."""
    device = apply_runtime(evaluate.device)
    seeds = list(features["seeds"])
    if features["kind"] == "real":
        return _zero_shot_only(features)
    meta = videos.world()["videos"]
    vids, captions = features["vids"], features["captions"]
    arms = conditions(evaluate)
    main = arms[0]["name"]
    ranks: dict[str, dict[str, list[list[int]]]] = {arm["name"]: {} for arm in arms}
    asked: dict[str, list[float]] = {arm["name"]: [] for arm in arms}
    levels: dict[str, list[int]] = {}
    pooling_other: list[dict[str, float]] = []
    example = None
    errors: dict[str, int] = {}
    for seed, encoder in encoders_by_seed(encoders, seeds, device):
        data = features["per_seed"][f"seed{seed}"]
        gallery = data["gallery"].numpy()
        query_z = data["query_z"].numpy()
        queries = [Query.from_dict(d) for d in data["queries"]]
        levels[f"seed{seed}"] = [q.vagueness for q in queries]
        pooling_other.append(
            rank_metrics(target_ranks(query_z, data["gallery_other"].numpy(), [q.target for q in queries]))
        )
        embedder = CachedTextEmbedder(vl_text_fn(encoder))
        rng = np.random.default_rng([seed, 31])
        others = [vids[(q.target + 1 + int(rng.integers(len(vids) - 1))) % len(vids)] for q in queries]
        for arm in tqdm(arms, desc=f"merlin seed {seed}"):
            result = run_rounds(
                queries,
                query_z,
                gallery,
                captions,
                _questioner(arm["questioner"], evaluate.llm, seed),
                SimulatedUser(meta, arm["noise"], seed, evaluate.user_restates),
                embedder,
                evaluate.rounds,
                evaluate.alpha,
                arm["convention"],
                evaluate.top_k,
                others if arm["control"] else None,
                evaluate.llm.on_error,
            )
            ranks[arm["name"]][f"seed{seed}"] = result.ranks.tolist()
            asked[arm["name"]].append(float(result.asked.sum() / len(queries)))
            errors[arm["name"]] = errors.get(arm["name"], 0) + len(result.errors)
            if arm["name"] == main and example is None:
                example = _example(result, queries)
    metrics = _metrics(ranks, asked, levels, pooling_other, seeds, evaluate, features, main, len(vids))
    runs = {"conditions": arms, "ranks": ranks, "levels": levels, "example": example, "llm_errors": errors}
    curves = {name: metrics["rounds"][name] for name in ranks}
    chance = metrics["chance"]
    figure = recall_figure(curves, evaluate.rounds, chance, f"merlin: {len(vids)} videos, {len(seeds)} seeds")
    return runs, metrics, figure, example_figure(example)


def _example(result: Any, queries: list[Query]) -> dict[str, Any]:
    """The worked example: the vaguest query whose target gained most over the rounds (labelled as such)."""
    vaguest = min(q.vagueness for q in queries)
    candidates = [i for i, q in enumerate(queries) if q.vagueness == vaguest]
    best = max(candidates, key=lambda i: int(result.ranks[0, i] - result.ranks[-1, i]))
    out = transcript(result, best, queries)
    out["chosen"] = f"the {vaguest}-attribute query of seed 0 whose target gained most rank (of {len(candidates)})"
    return out


def _metrics(
    ranks: dict[str, dict[str, list[list[int]]]],
    asked: dict[str, list[float]],
    levels: dict[str, list[int]],
    pooling_other: list[dict[str, float]],
    seeds: list[int],
    evaluate: EvaluateParams,
    features: dict[str, Any],
    main: str,
    gallery: int,
) -> dict[str, Any]:
    rounds: dict[str, Any] = {}
    gain: dict[str, Any] = {}
    for name, per_seed in ranks.items():
        table = {s: [rank_metrics(r) for r in per_seed[f"seed{s}"]] for s in seeds}
        rounds[name] = {
            f"round{r}": {m: mean_std([table[s][r][m] for s in seeds], seeds) for m in MEASURES}
            for r in range(evaluate.rounds + 1)
        }
        gain[name] = {
            m: mean_std([table[s][-1][m] - table[s][0][m] for s in seeds], seeds) for m in ("r1", "r10", "mnr")
        }
    vagueness: dict[str, Any] = {"r1_gain": {"x": [], "y": []}, "r10_gain": {"x": [], "y": []}}
    by_level: dict[str, Any] = {}
    for level in sorted({k for s in seeds for k in levels[f"seed{s}"]}):
        per = {m: [] for m in ("r1_round0", "r1_final", "r1_gain", "r10_gain")}
        for s in seeds:
            r = np.asarray(ranks[main][f"seed{s}"])
            mask = np.asarray(levels[f"seed{s}"]) == level
            first, last = rank_metrics(r[0, mask]), rank_metrics(r[-1, mask])
            per["r1_round0"].append(first["r1"])
            per["r1_final"].append(last["r1"])
            per["r1_gain"].append(last["r1"] - first["r1"])
            per["r10_gain"].append(last["r10"] - first["r10"])
            for m in ("r1_gain", "r10_gain"):
                vagueness[m]["x"].append(float(level))
                vagueness[m]["y"].append(per[m][-1])
        by_level[f"named{level}"] = {m: mean_std(v, seeds) for m, v in per.items()}
    other = "attention" if features["pooling"] == "mean" else "mean"
    scale = (
        f"mini-world video gallery of {gallery} held-out videos (one frame per 2-s clip, 32 px), "
        f"{len(levels[f'seed{seeds[0]}'])} queries per seed naming 1-3 attributes of one event; vl encoder "
        f"(tiny ViT + frozen MiniLM head) per seed, {features['pooling']} frame pooling; rule/entropy questioners, "
        "simulated user from per-clip ground truth answering "
        f"{'with restatements' if evaluate.user_restates else 'only the slot asked about'}; "
        f"{evaluate.rounds} rounds, alpha {evaluate.alpha}; {len(seeds)} "
        "whole-chain seeds (vl encoder, query sample, user noise)"
    )
    return {
        "rounds": rounds,
        "gain": gain,
        "vagueness": {**vagueness, **by_level},
        "questions_per_query": {name: mean_std(v, seeds) for name, v in asked.items()},
        "pooling": {other: {m: mean_std([p[m] for p in pooling_other], seeds) for m in ("r1", "r10")}},
        "chance": {"r1": 100.0 / gallery, "r5": 500.0 / gallery, "r10": 1000.0 / gallery},
        "gallery": gallery,
        "queries": len(levels[f"seed{seeds[0]}"]),
        "main": main,
        "scale": scale,
    }


def _zero_shot_only(features: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], plt.Figure, plt.Figure]:
    """Real benchmarks: round 0 from the pre-extracted embeddings (no simulated user for real videos here)."""
    ranks = target_ranks(features["query_z"].numpy(), features["gallery"].numpy(), features["targets"])
    found = rank_metrics(ranks)
    gallery = len(features["vids"])
    metrics = {
        "zero_shot": found,
        "gallery": gallery,
        "queries": len(ranks),
        "chance": {"r1": 100.0 / gallery, "r10": 1000.0 / gallery},
        "scale": f"{features['dataset']}: {len(ranks)} queries vs {gallery} videos, pre-extracted embeddings; round 0 only",
    }
    curves = {"zero_shot": {"round0": {m: {"mean": v} for m, v in found.items()}}}
    return (
        {"ranks": ranks.tolist()},
        metrics,
        recall_figure(curves, 0, metrics["chance"], metrics["scale"]),
        example_figure(None),
    )
