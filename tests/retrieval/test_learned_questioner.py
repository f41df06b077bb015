"""The learned questioner: trained on simulated dialogues of queries it is not evaluated on, it picks open slots."""

from __future__ import annotations

import numpy as np
import pytest

from revis.retrieval.embedding import CachedTextEmbedder
from revis.retrieval.interactive import run_rounds
from revis.retrieval.learned import LearnedQuestioner, fit_learned, training_queries, training_rows
from revis.retrieval.questioners import Dialogue, RuleQuestioner
from revis.retrieval.slots import SLOT_VALUES, parse_caption, parse_phrase
from revis.retrieval.user import SimulatedUser

AXES = [(slot, value) for slot, values in SLOT_VALUES.items() for value in values]


def _embed(texts):
    """One dimension per slot value: answers that name a slot move the query towards videos with that value."""
    out = np.full((len(texts), len(AXES)), 0.01)
    for row, text in enumerate(texts):
        background, events = parse_caption(text)
        for slots in events or [parse_phrase(text)]:
            for slot, value in {**slots, **({"background": background} if background else {})}.items():
                if (slot, value) in AXES:
                    out[row, AXES.index((slot, value))] += 1.0
    return out


@pytest.fixture(scope="module")
def world():
    from revis.retrieval.queries import sample_queries
    from revis.world.videos import WorldConfig, generate_video_world

    meta = generate_video_world(WorldConfig(seed=3, n_families=30, clips=(10, 14), segment_length=(3, 4))).world()
    meta = meta["videos"]
    gallery = sorted(meta)
    captions = [meta[v]["caption"] for v in gallery]
    evaluated = sample_queries(meta, gallery, 60, [1], seed=0)
    return meta, gallery, captions, evaluated


def test_training_queries_are_disjoint_from_the_evaluated_ones(world):
    meta, gallery, _, evaluated = world
    train = training_queries(meta, gallery, evaluated, 60, seed=0, background=0.0)
    taken = {(q.target, q.event, q.named) for q in evaluated}
    assert train and all((q.target, q.event, q.named) not in taken for q in train)
    assert {q.vagueness for q in train} == {1}  # the evaluated queries' levels


def test_the_learned_questioner_is_trained_on_best_slots_and_ranks_targets_no_worse_than_the_rule(world):
    meta, gallery, captions, evaluated = world
    embedder = CachedTextEmbedder(_embed)
    gallery_z = embedder.embed(captions)
    train = training_queries(meta, gallery, evaluated, 80, seed=0, background=0.0)
    rows, labels = training_rows(
        train, embedder.embed([q.text for q in train]), gallery_z, captions, SimulatedUser(meta), embedder, 2, 0.8,
        "answer", 10,
    )  # fmt: skip
    assert rows.shape[1] == 11 and 0 < labels.mean() < 1  # 5 numeric features + 6 slots; some slots are best
    model = fit_learned(rows, labels)
    learned = LearnedQuestioner(model)
    question = learned.ask(Dialogue("two red objects"), captions[:10])
    assert question is not None and question.slot not in ("count", "colour")  # never a covered slot
    query_z = embedder.embed([q.text for q in evaluated])
    final = {}
    for name, questioner in (("rule", RuleQuestioner()), ("learned", learned)):
        result = run_rounds(evaluated, query_z, gallery_z, captions, questioner, SimulatedUser(meta), embedder, 2)
        final[name] = result.ranks[-1].mean()
    assert final["learned"] <= final["rule"]
    flat = LearnedQuestioner(fit_learned(rows[:3], np.ones(3)))  # one class: no preference, the rule's order
    assert (
        flat.ask(Dialogue("two red objects"), captions[:10]).slot
        == RuleQuestioner().ask(Dialogue("two red objects"), captions[:10]).slot
    )
