"""MERLIN's round loop over every query at once: rank, ask, answer, embed, SLERP, re-rank.

Round 0 ranks the gallery with the query embeddings. Each later round, per query: the
questioner sees the captions of the current top-k (the anchor first) and the dialogue; the
simulated user answers about the target video (or, in the negative control, about another
video); the answers of all queries are embedded in one batch and folded into the running
query embeddings by SLERP; the gallery is re-ranked. A query whose questioner has nothing to
ask, or whose user cannot tell, keeps its embedding for that round.

LLM failures (``LLMError``) either skip that question (``on_error="skip"``: the round goes on,
the failure is counted and its message kept) or stop the loop (``on_error="stop"``: re-raised).
``LLMUnavailable`` (the endpoint failed too many times in a row) always stops the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from revis.retrieval.embedding import CachedTextEmbedder
from revis.retrieval.llm import LLMError, LLMUnavailable
from revis.retrieval.queries import Query
from revis.retrieval.questioners import Dialogue, Question, Questioner, Turn
from revis.retrieval.ranking import target_ranks, top_k
from revis.retrieval.slerp import Convention, slerp
from revis.retrieval.user import Answer

log = logging.getLogger(__name__)


class User(Protocol):
    """Who answers: the simulated user of the world (``SimulatedUser``) or an answerer over real frames."""

    def answer(
        self,
        query: Query,
        question_text: str,
        slot: str | None,
        source: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> Answer: ...


@dataclass
class LoopResult:
    ranks: np.ndarray  # (rounds + 1, Q) 1-based target ranks, round 0 = the query alone
    dialogues: list[Dialogue]
    asked: np.ndarray  # (rounds,) questions asked per round
    answered: np.ndarray  # (rounds,) answers folded in per round
    errors: list[str] = field(default_factory=list)


def run_rounds(
    queries: Sequence[Query],
    query_z: np.ndarray,
    gallery_z: np.ndarray,
    captions: Sequence[str],
    questioner: Questioner,
    user: User,
    embedder: CachedTextEmbedder,
    rounds: int = 5,
    alpha: float = 0.8,
    convention: Convention = "answer",
    k: int = 10,
    sources: Sequence[str] | None = None,
    on_error: Literal["skip", "stop"] = "skip",
) -> LoopResult:
    """Ranks of every query's target after 0..rounds rounds (``sources[i]``: the video the user answers about)."""
    targets = np.asarray([q.target for q in queries])
    state = np.array(query_z, dtype=np.float64, copy=True)
    dialogues = [Dialogue(q.text) for q in queries]
    said: list[dict[str, Any]] = [{} for _ in queries]  # what each user has said so far (slot -> value)
    ranks = [target_ranks(state, gallery_z, targets)]
    asked, answered, errors = [], [], []
    for _ in range(rounds):
        top = top_k(state, gallery_z, k)
        rows, texts = [], []
        n_asked = 0
        for i, query in enumerate(queries):
            candidates = [captions[j] for j in top[i]]
            try:
                question = questioner.ask(dialogues[i], candidates)
            except LLMError as exc:
                if on_error == "stop" or isinstance(exc, LLMUnavailable):  # a dead endpoint stops the loop
                    raise
                errors.append(str(exc))
                log.warning("query %s: question skipped: %s", query.qid, exc)
                continue
            if question is None:
                continue
            n_asked += 1
            answer = user.answer(query, question.text, question.slot, sources[i] if sources else None, said[i])
            question = Question(question.text, question.slot or answer.slot)
            dialogues[i].turns.append(Turn(candidates[0], question, answer.text))
            if answer.text:
                if answer.values and answer.slot is not None:
                    said[i][answer.slot] = answer.values[0]
                rows.append(i)
                texts.append(answer.text)
        if rows:
            answers = embedder.embed(texts)
            state[rows] = slerp(state[rows], answers, alpha, convention)
        asked.append(n_asked)
        answered.append(len(rows))
        ranks.append(target_ranks(state, gallery_z, targets))
    return LoopResult(np.stack(ranks), dialogues, np.asarray(asked), np.asarray(answered), errors)


def transcript(result: LoopResult, index: int, queries: Sequence[Query]) -> dict[str, Any]:
    """One query's dialogue with the target's rank per round (the worked example)."""
    dialogue = result.dialogues[index]
    return {
        "query": queries[index].text,
        "target": queries[index].vid,
        "ranks": [int(r) for r in result.ranks[:, index]],
        "turns": [{"anchor": t.anchor, "question": t.question.text, "answer": t.answer} for t in dialogue.turns],
    }
