"""MERLIN's experiment in the mini world: every condition (questioner x convention x answer noise, and a
negative control) run on every whole-chain seed's queries, from ``merlin.features``.

Seed s uses the vl encoder of seed s, the query sample of seed s, the user noise of seed s and the control
videos of seed s; every condition of a seed starts from the same round-0 ranks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import torch
from tqdm import tqdm

from revis.retrieval.bundles import SeedFeatures, WorldFeatures
from revis.retrieval.embedding import CachedTextEmbedder, encoders_by_seed, vl_text_fn
from revis.retrieval.interactive import LoopResult, run_rounds, transcript
from revis.retrieval.learned import LearnedQuestioner, fit_learned, training_queries, training_rows
from revis.retrieval.llm import ChatBackend
from revis.retrieval.queries import Query
from revis.retrieval.questioners import EntropyQuestioner, LLMQuestioner, Questioner, RuleQuestioner
from revis.retrieval.ranking import rank_metrics, target_ranks
from revis.retrieval.slerp import Convention
from revis.retrieval.slots import SLOTS
from revis.retrieval.user import SimulatedUser
from revis.vl.encoder import DualEncoder

QuestionerFactory = Callable[[str, int], Questioner]  # (questioner name, seed) -> a fresh questioner


class LLMSettings(Protocol):
    """What the LLM questioner needs (``merlin.evaluate.llm``; read only)."""

    @property
    def backend(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def model(self) -> str: ...
    @property
    def api_key_env(self) -> str | None: ...
    @property
    def timeout(self) -> float: ...
    @property
    def max_consecutive_failures(self) -> int: ...
    @property
    def path(self) -> str | None: ...
    @property
    def temperature(self) -> float: ...
    @property
    def later_temperature(self) -> float: ...
    @property
    def max_tokens(self) -> int: ...


def chat_backend(llm: LLMSettings, seed: int) -> ChatBackend:
    """The configured chat backend: an OpenAI-compatible endpoint (``http``) or a local causal LM."""
    if llm.backend == "http":
        from revis.retrieval.llm import HttpChat

        return HttpChat(llm.url or "", llm.model, llm.api_key_env, llm.timeout, llm.max_consecutive_failures)
    from revis.retrieval.llm import TransformersChat

    return TransformersChat(llm.path or "", seed=seed)


def make_questioner(name: str, seed: int, llm: LLMSettings) -> Questioner:
    """A fresh questioner: ``rule``, ``entropy``, or ``llm`` over the configured backend (http or a local LM)."""
    if name == "rule":
        return RuleQuestioner()
    if name == "entropy":
        return EntropyQuestioner()
    return LLMQuestioner(chat_backend(llm, seed), llm.temperature, llm.later_temperature, llm.max_tokens)


@dataclass(frozen=True)
class Condition:
    """One arm: who asks, how answers are folded in, how often the user is wrong; the control answers
    about a random non-target video."""

    name: str
    questioner: str
    convention: Convention
    noise: float
    control: bool


def conditions(
    questioners: Sequence[str],
    conventions: Sequence[Convention],
    noise: Sequence[float],
    control: bool,
    learned: bool = False,
) -> list[Condition]:
    """Every (questioner, convention, noise) arm, the learned questioner's arms (one per convention, accurate
    answers) when asked for, then the negative control (answers about another video)."""
    out = [
        Condition(f"{q}_{c}_noise{round(p * 100)}", q, c, p, False)
        for q in questioners
        for c in conventions
        for p in noise
    ]
    if learned and "learned" not in questioners:
        out += [Condition(f"learned_{c}_noise0", "learned", c, 0.0, False) for c in conventions]
    if control:
        q, c = questioners[0], conventions[0]
        out.append(Condition(f"control_{q}_{c}", q, c, 0.0, True))
    return out


@dataclass(frozen=True)
class LoopSettings:
    """The round loop of every condition (``merlin.evaluate``)."""

    rounds: int
    alpha: float
    top_k: int
    user_restates: bool
    on_error: Literal["skip", "stop"]
    learned_queries: int = 210  # training queries of the learned questioner per seed (before removing overlaps)
    learned_background: float = 1.0  # their share naming the place (as merlin.features.background)


@dataclass
class Simulation:
    """What the conditions produced, filled seed by seed (``ranks[condition]["seed<s>"]``: rounds + 1 rows)."""

    ranks: dict[str, dict[str, list[list[int]]]]
    asked: dict[str, list[float]]  # condition -> questions per query, one per seed
    levels: dict[str, list[int]] = field(default_factory=dict)  # "seed<s>" -> attributes each query names
    pooling_other: list[dict[str, float]] = field(default_factory=list)  # round 0 with the other frame pooling
    example: dict[str, Any] | None = None
    errors: dict[str, int] = field(default_factory=dict)  # condition -> LLM errors skipped
    learned: list[dict[str, Any]] = field(default_factory=list)  # per seed: the learned questioner's training


@dataclass(frozen=True)
class MerlinRuns:
    """``merlin.runs`` (runs.json): the conditions, every rank, the queries' vagueness, the worked example."""

    conditions: list[Condition]
    ranks: dict[str, dict[str, list[list[int]]]]
    levels: dict[str, list[int]]
    example: dict[str, Any] | None
    llm_errors: dict[str, int]
    learned: list[dict[str, Any]] = field(default_factory=list)  # the learned questioner's training per seed


def worked_example(result: LoopResult, queries: list[Query]) -> dict[str, Any]:
    """The worked example: the vaguest query whose target gained most over the rounds (labelled as such)."""
    vaguest = min(q.vagueness for q in queries)
    candidates = [i for i, q in enumerate(queries) if q.vagueness == vaguest]
    best = max(candidates, key=lambda i: int(result.ranks[0, i] - result.ranks[-1, i]))
    out = transcript(result, best, queries)
    out["chosen"] = f"the {vaguest}-attribute query of seed 0 whose target gained most rank (of {len(candidates)})"
    return out


def _simulate_seed(
    simulation: Simulation,
    seed: int,
    encoder: DualEncoder,
    data: SeedFeatures,
    features: WorldFeatures,
    meta: dict[str, dict[str, Any]],
    arms: Sequence[Condition],
    settings: LoopSettings,
    questioner: QuestionerFactory,
) -> None:
    vids, captions = features["vids"], features["captions"]
    main = arms[0].name
    gallery = data["gallery"].numpy()
    query_z = data["query_z"].numpy()
    queries = [Query.from_dict(d) for d in data["queries"]]
    simulation.levels[f"seed{seed}"] = [q.vagueness for q in queries]
    simulation.pooling_other.append(
        rank_metrics(target_ranks(query_z, data["gallery_other"].numpy(), [q.target for q in queries]))
    )
    embedder = CachedTextEmbedder(vl_text_fn(encoder))
    rng = np.random.default_rng([seed, 31])
    others = [vids[(q.target + 1 + int(rng.integers(len(vids) - 1))) % len(vids)] for q in queries]
    learned = {  # per convention: trained on dialogues folded in the way its arm folds them
        c: _train_learned(simulation, seed, queries, gallery, features, meta, embedder, settings, c)
        for c in dict.fromkeys(arm.convention for arm in arms if arm.questioner == "learned")
    }
    for arm in tqdm(arms, desc=f"merlin seed {seed}"):
        result = run_rounds(
            queries,
            query_z,
            gallery,
            captions,
            learned[arm.convention] if arm.questioner == "learned" else questioner(arm.questioner, seed),
            SimulatedUser(meta, arm.noise, seed, settings.user_restates),
            embedder,
            settings.rounds,
            settings.alpha,
            arm.convention,
            settings.top_k,
            others if arm.control else None,
            settings.on_error,
        )
        simulation.ranks[arm.name][f"seed{seed}"] = result.ranks.tolist()
        simulation.asked[arm.name].append(float(result.asked.sum() / len(queries)))
        simulation.errors[arm.name] = simulation.errors.get(arm.name, 0) + len(result.errors)
        if arm.name == main and simulation.example is None:
            simulation.example = worked_example(result, queries)


def _train_learned(
    simulation: Simulation,
    seed: int,
    evaluated: list[Query],
    gallery: np.ndarray,
    features: WorldFeatures,
    meta: dict[str, dict[str, Any]],
    embedder: CachedTextEmbedder,
    settings: LoopSettings,
    convention: Convention,
) -> LearnedQuestioner:
    """The learned questioner of this seed, trained on simulated dialogues of queries it is not evaluated on."""
    vids, captions = features["vids"], features["captions"]
    train = training_queries(meta, vids, evaluated, settings.learned_queries, seed, settings.learned_background)
    train_z = embedder.embed([q.text for q in train])
    user = SimulatedUser(meta, 0.0, seed + 100_000, settings.user_restates)
    rows, labels = training_rows(
        train, train_z, gallery, captions, user, embedder, settings.rounds, settings.alpha, convention, settings.top_k
    )
    model = fit_learned(rows, labels)
    names = ["entropy", "top_share", "distinct", "shown", "round", *[f"slot_{s}" for s in SLOTS]]
    simulation.learned.append(
        {
            "seed": seed,
            "convention": convention,
            "queries": len(train),
            "rows": model.examples,
            "positive_rate": model.positive_rate,
            "weights": dict(zip(names, model.weights.tolist())),
        }
    )
    return LearnedQuestioner(model)


def simulate(
    features: WorldFeatures,
    encoders: Mapping[str, Any],
    meta: dict[str, dict[str, Any]],
    arms: Sequence[Condition],
    settings: LoopSettings,
    questioner: QuestionerFactory,
    device: torch.device | str,
) -> Simulation:
    """Every condition on every seed of ``features`` (a ``"world"`` bundle), the seeds in order."""
    simulation = Simulation(ranks={arm.name: {} for arm in arms}, asked={arm.name: [] for arm in arms})
    for seed, encoder in encoders_by_seed(encoders, list(features["seeds"]), device):
        data = features["per_seed"][f"seed{seed}"]
        _simulate_seed(simulation, seed, encoder, data, features, meta, arms, settings, questioner)
    return simulation


def runs_artifact(simulation: Simulation, arms: Sequence[Condition]) -> MerlinRuns:
    return MerlinRuns(
        list(arms), simulation.ranks, simulation.levels, simulation.example, simulation.errors, simulation.learned
    )
