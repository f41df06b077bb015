"""The simulated user: answers a question from a video's per-clip ground truth, with a wrong-answer rate.

MERLIN's answerer (``human_agent/answerer.py``) asks a VQA model the question once per frame
(1 fps), then an LLM aggregates the per-frame answers ("if it appears in any frame, say yes")
into one answer of ~30 words. Here each clip (one frame per 2-s clip) answers with the asked
slot's value of the event it shows (nothing for an empty clip); the aggregate keeps the values
seen in frames whose event agrees with what the user asked for (the query's named attributes),
most frequent first, or every frame's values when none agrees (an answer about a video the
user did not mean: the negative control). By default the answer names only the asked slot's
value(s) (``restate=False``: "The objects are red."), so what the user adds each round is what
the questioner chose to ask; ``restate=True`` also restates the query's attributes and what the
user said in earlier answers (``context``) -- MERLIN's answerer is told to give details beyond
the question -- which makes the questioner's choice matter less. Values are read from the event
the answer is about (in the negative control, an event of the other video: a VQA model looking
at the wrong video describes it) and worded by the world's phrasing machinery. With probability
``wrong_rate`` the user misremembers: each reported value is replaced by a random other value of
the slot.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from revis.retrieval.queries import Query
from revis.retrieval.slots import SLOT_VALUES, SLOTS
from revis.world.videos import phrase_event

SLOT_KEYWORDS = {
    "count": ("how many", "number of", "count"),
    "colour": ("colour", "color"),
    "texture": ("texture", "pattern", "stripe", "plain or"),
    "shape": ("shape", "what kind of object", "form"),
    "motion": ("moving", "motion", "direction", "move", "still"),
    "background": ("where", "background", "setting", "scene", "place"),
}


def slot_of_question(text: str) -> str | None:
    """The slot a free-text question asks about: the keyword that appears first, or None."""
    lowered = text.lower()
    hits = [(lowered.find(w), slot) for slot, words in SLOT_KEYWORDS.items() for w in words if w in lowered]
    return min(hits)[1] if hits else None


@dataclass
class Answer:
    text: str | None  # None: the user cannot tell (no slot recognised)
    slot: str | None
    values: list[Any] = field(default_factory=list)
    per_frame: list[Any] = field(default_factory=list)
    wrong: bool = False


class SimulatedUser:
    def __init__(
        self, videos: dict[str, dict[str, Any]], wrong_rate: float = 0.0, seed: int = 0, restate: bool = False
    ) -> None:
        if not 0.0 <= wrong_rate <= 1.0:
            raise ValueError(f"wrong_rate must lie in [0, 1], got {wrong_rate}")
        self.videos = videos
        self.restate = restate
        self.wrong_rate = wrong_rate
        self.seed = seed
        self.rng = np.random.default_rng([seed, 23])

    def per_frame(self, vid: str, slot: str) -> list[Any]:
        """The slot's value in each clip of ``vid`` (None where nothing is shown)."""
        video = self.videos[vid]
        if slot == "background":
            return [video["background"]] * len(video["clips"])
        return [None if c["event"] is None else video["events"][c["event"]][slot] for c in video["clips"]]

    def answer(
        self,
        query: Query,
        question_text: str,
        slot: str | None,
        source: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> Answer:
        """Answer about ``source`` (default: the query's target video); ``context``: earlier answers' values."""
        slot = slot or slot_of_question(question_text)
        if slot not in SLOTS:
            return Answer(None, None)
        vid = source or query.vid
        target_event = self.videos[query.vid]["events"][query.event]
        wanted = {a: target_event[a] for a in query.named}
        video = self.videos[vid]
        frames = self.per_frame(vid, slot)
        agreeing = [
            (v, clip["event"])
            for v, clip in zip(frames, video["clips"])
            if v is not None
            and clip["event"] is not None
            and all(video["events"][clip["event"]][a] == x for a, x in wanted.items())
        ]
        pool = agreeing or [(v, clip["event"]) for v, clip in zip(frames, video["clips"]) if v is not None]
        if not pool:
            return Answer(None, slot, per_frame=frames)
        ranked = Counter(v for v, _ in pool).most_common()
        values = [v for v, c in ranked[:2] if c >= 0.5 * ranked[0][1]]
        # the event the answer describes: the one shown most among the frames that gave the first value
        shown = Counter(e for v, e in pool if v == values[0] and e is not None).most_common(1)
        event = video["events"][shown[0][0]] if shown else (video["events"] or [target_event])[0]
        wrong = bool(self.rng.random() < self.wrong_rate)
        if wrong:
            values = [self._other(slot, v) for v in values]
        return Answer(self._phrase(query, slot, values, event, context or {}), slot, values, frames, wrong)

    def _other(self, slot: str, value: Any) -> Any:
        options = [v for v in SLOT_VALUES[slot] if v != value]
        return options[int(self.rng.integers(len(options)))]

    def _phrase(
        self, query: Query, slot: str, values: list[Any], event: dict[str, Any], context: dict[str, Any]
    ) -> str:
        """One description per reported value, worded deterministically per (seed, query, what is said)."""
        parts = []
        context = context if self.restate else {}
        for value in values:
            said = sorted(f"{k}={v}" for k, v in {**context, slot: value}.items())
            key = zlib.crc32("|".join(said).encode())
            rng = np.random.default_rng([self.seed, query.qid, key])
            attrs = {a: event[a] for a in query.named} if self.restate else {}
            attrs.update({k: v for k, v in context.items() if k != "background"})
            background = context.get("background")
            if slot == "background":
                background = value
            else:
                attrs[slot] = value
            parts.append(phrase_event(attrs, rng, background, count=event["count"], style="description"))
        return " and also ".join(parts)
