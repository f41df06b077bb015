"""A learned questioner: a logistic regression over features of each open slot, trained on simulated dialogues.

Training (per whole-chain seed, before any evaluated query is asked): queries sampled with
another seed on the same gallery, minus any that equals an evaluated query (same target, event
and named attributes). For each training query and round, every slot the dialogue leaves open
is tried: the simulated user (accurate) answers it about the target, the answer is folded in by
SLERP and the target's new rank is measured; the slot(s) giving the best rank are the positives.
The dialogue then goes on with the best slot (an oracle roll-out). Features of a slot (from the
top-k candidates' captions, as the entropy questioner reads them): the entropy of its value
distribution, the share of the heaviest value, the number of distinct values over k, the share
of candidates that show it, the round, and the slot itself (one-hot). ``LearnedQuestioner`` asks
the open slot with the highest score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from revis.retrieval.embedding import CachedTextEmbedder
from revis.retrieval.queries import Query
from revis.retrieval.questioners import QUESTIONS, Dialogue, EntropyQuestioner, Question, Turn
from revis.retrieval.ranking import target_ranks, top_k
from revis.retrieval.slerp import Convention, slerp
from revis.retrieval.slots import SLOTS
from revis.retrieval.user import SimulatedUser


def slot_features(slot: str, candidates: list[str], known: dict[str, Any], round_index: int) -> np.ndarray:
    """Features of asking ``slot`` now (see the module docstring)."""
    mass = EntropyQuestioner().distribution(slot, candidates, known)
    total = sum(mass.values())
    shares = [m / total for m in mass.values() if m > 0] if total else []
    entropy = -sum(p * math.log(p) for p in shares)
    k = max(1, len(candidates))
    numeric = [entropy, max(shares, default=0.0), len(shares) / k, total / k, float(round_index)]
    return np.asarray(numeric + [float(slot == s) for s in SLOTS], dtype=np.float64)


@dataclass(frozen=True)
class LearnedModel:
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    examples: int  # (query, round, slot) rows it was trained on
    positive_rate: float


class LearnedQuestioner:
    name = "learned"

    def __init__(self, model: LearnedModel, order: tuple[str, ...] = SLOTS) -> None:
        self.model, self.order = model, order

    def score(self, features: np.ndarray) -> float:
        z = (features - self.model.mean) / self.model.scale
        return float(z @ self.model.weights + self.model.bias)

    def ask(self, dialogue: Dialogue, candidates: list[str]) -> Question | None:
        covered, known = dialogue.covered(), dialogue.known()
        open_slots = [s for s in self.order if s not in covered]
        if not open_slots:
            return None
        scores = [self.score(slot_features(s, candidates, known, len(dialogue.turns))) for s in open_slots]
        return Question(QUESTIONS[open_slots[int(np.argmax(scores))]], open_slots[int(np.argmax(scores))])


def training_rows(
    queries: Sequence[Query],
    query_z: np.ndarray,
    gallery: np.ndarray,
    captions: Sequence[str],
    user: SimulatedUser,
    embedder: CachedTextEmbedder,
    rounds: int,
    alpha: float,
    convention: Convention,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(features, is-best-slot) of every open slot of every training query and round (oracle roll-out)."""
    state = np.array(query_z, dtype=np.float64, copy=True)
    dialogues = [Dialogue(q.text) for q in queries]
    rows: list[np.ndarray] = []
    labels: list[float] = []
    for r in range(rounds):
        top = top_k(state, gallery, k)
        tried: list[tuple[int, str, str, np.ndarray]] = []  # (query, slot, answer, features), all queries at once
        for i, query in enumerate(queries):
            candidates = [captions[j] for j in top[i]]
            known = dialogues[i].known()
            for slot in (s for s in SLOTS if s not in dialogues[i].covered()):
                answer = user.answer(query, QUESTIONS[slot], slot)
                if answer.text:
                    tried.append((i, slot, answer.text, slot_features(slot, candidates, known, r)))
        if not tried:
            break
        who = np.asarray([t[0] for t in tried])
        moved = slerp(state[who], embedder.embed([t[2] for t in tried]), alpha, convention)
        ranks = target_ranks(moved, gallery, [queries[i].target for i in who])
        for i in sorted(set(who.tolist())):
            mine = np.flatnonzero(who == i)
            best = ranks[mine].min()
            rows += [tried[j][3] for j in mine]
            labels += [float(ranks[j] == best) for j in mine]
            chosen = int(mine[np.argmin(ranks[mine])])
            state[i] = moved[chosen]
            turn = Turn(captions[top[i][0]], Question(QUESTIONS[tried[chosen][1]], tried[chosen][1]), tried[chosen][2])
            dialogues[i].turns.append(turn)
    return np.asarray(rows), np.asarray(labels)


def fit_learned(features: np.ndarray, labels: np.ndarray, l2: float = 1.0) -> LearnedModel:
    """Logistic regression (sklearn, L2) on standardised features; all-zero weights (the first open slot in
    ``SLOTS`` order, as the rule questioner) when the rows hold one class only."""
    from sklearn.linear_model import LogisticRegression

    if len(features) == 0 or len(set(labels.tolist())) < 2:  # nothing to tell apart: every slot scores the same
        width = features.shape[1] if features.ndim == 2 else 5 + len(SLOTS)
        zeros = np.zeros(width)
        return LearnedModel(
            zeros, 0.0, zeros, np.ones(width), len(labels), float(labels.mean()) if len(labels) else 0.0
        )
    mean, scale = features.mean(0), features.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    model = LogisticRegression(C=1.0 / l2, max_iter=1000).fit((features - mean) / scale, labels)
    return LearnedModel(
        model.coef_[0].astype(np.float64), float(model.intercept_[0]), mean, scale, len(labels), float(labels.mean())
    )


def training_queries(
    videos: dict[str, dict[str, Any]],
    vids: Sequence[str],
    evaluated: Sequence[Query],
    n: int,
    seed: int,
    background: float,
) -> list[Query]:
    """``n`` queries of another sample (seed ``[seed, 1009]``-derived) on the gallery, none equal to an evaluated one."""
    from revis.retrieval.queries import sample_queries

    levels = sorted({q.vagueness for q in evaluated})
    taken = {(q.target, q.event, q.named) for q in evaluated}
    drawn = sample_queries(videos, list(vids), n, levels, 100_000 + seed, background)
    return [q for q in drawn if (q.target, q.event, q.named) not in taken]
