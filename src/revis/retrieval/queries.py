"""Queries for interactive retrieval: one event of a target video, named by some of its attributes (and the place).

The fewer attributes a query names, the vaguer it is: a near-duplicate family (and every
other video showing, say, "some red shapes") competes for rank 1. Wording comes from the
world's own phrasing machinery (``revis.world.videos.phrase_event``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from revis.world.videos import ATTRIBUTES, phrase_event


@dataclass(frozen=True)
class Query:
    qid: int
    vid: str  # the target video
    target: int  # its index in the gallery
    event: int  # the event the user has in mind
    named: tuple[str, ...]  # the attributes the text names
    text: str

    @property
    def vagueness(self) -> int:
        return len(self.named)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "named": list(self.named)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Query:
        return Query(int(d["qid"]), d["vid"], int(d["target"]), int(d["event"]), tuple(d["named"]), d["text"])


def sample_queries(
    videos: dict[str, dict[str, Any]],
    gallery: Sequence[str],
    n: int,
    levels: Sequence[int],
    seed: int,
    background: float = 0.0,
) -> list[Query]:
    """``n`` queries, an equal share per vagueness level (attributes named), targets drawn without replacement.

    ``background``: the share of queries that also say where the video takes place (the target's
    background; not counted in the vagueness level). ``background=0`` draws exactly the queries
    of earlier versions (no extra random draws).
    """
    rng = np.random.default_rng([seed, 17])
    order = rng.permutation(len(gallery))
    targets = [int(order[i % len(order)]) for i in range(n)]
    named_counts = [levels[i % len(levels)] for i in range(n)]
    queries = []
    for qid, (target, k) in enumerate(zip(targets, named_counts)):
        video = videos[gallery[target]]
        shown = sorted({c["event"] for c in video["clips"] if c["event"] is not None})
        event = int(shown[int(rng.integers(len(shown)))])
        attrs = video["events"][event]
        chosen = {str(a) for a in rng.choice(ATTRIBUTES, size=k, replace=False)}
        named = tuple(a for a in ATTRIBUTES if a in chosen)
        where = video["background"] if background > 0 and rng.random() < background else None
        text = phrase_event({a: attrs[a] for a in named}, rng, where, count=attrs["count"])
        queries.append(Query(qid, gallery[target], target, event, named, text))
    return queries
