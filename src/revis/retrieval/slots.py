"""Attribute slots of the video world, read back from text (captions, queries, answers).

A slot is one of ``count, colour, texture, shape, motion`` (per event) or ``background`` (per
video). ``parse_phrase`` finds the values a phrase names using the world's own wording tables
(``revis.world.videos``); ``parse_caption`` splits a video caption ("On the grass: two red
circles moving left, then a blue square ...") into the background and one slot dict per event.
Questioners see only text, so they read the slots this way; the simulated user reads the
target's ground truth (``world.json``).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from revis.world.videos import (
    ATTRIBUTES,
    BACKGROUND_WORDS,
    COLOUR_WORDS,
    COUNT_WORDS,
    EMPTY_WORDS,
    MOTION_WORDS,
    SHAPE_WORDS,
    TEXTURE_WORDS,
    VALUES,
)

SLOTS = (*ATTRIBUTES, "background")
SLOT_VALUES: dict[str, tuple[Any, ...]] = {**VALUES, "background": tuple(BACKGROUND_WORDS)}


@functools.lru_cache(maxsize=1)
def _patterns() -> dict[str, list[tuple[re.Pattern[str], Any]]]:
    """Per slot: (regex, value), longest wording first so "a pair of" wins over shorter overlaps."""
    words: dict[str, list[tuple[str, Any]]] = {
        "count": [(w, v) for v, ws in COUNT_WORDS.items() for w in ws],
        "colour": [(w, v) for v, ws in COLOUR_WORDS.items() for w in ws],
        "texture": [(w, v) for v, ws in TEXTURE_WORDS.items() for w in ws],
        "shape": [(w, v) for v, ws in SHAPE_WORDS.items() if v is not None for pair in ws for w in pair],
        "motion": [(w, v) for v, ws in MOTION_WORDS.items() for w in ws],
        "background": [(w, v) for v, ws in {**BACKGROUND_WORDS}.items() for w in ws]
        + [(w, v) for v, ws in EMPTY_WORDS.items() for w in ws],
    }
    return {
        slot: [
            (re.compile(rf"(?<![\w-]){re.escape(w.lower())}(?![\w-])"), v)
            for w, v in sorted(pairs, key=lambda p: -len(p[0]))
        ]
        for slot, pairs in words.items()
    }


@functools.lru_cache(maxsize=65536)
def _parse_phrase(text: str) -> tuple[tuple[str, Any], ...]:
    return tuple(_parse(text).items())


def parse_phrase(text: str) -> dict[str, Any]:
    """Slot values a phrase names (the first match per slot); background wording is removed first."""
    return dict(_parse_phrase(text))


def _parse(text: str) -> dict[str, Any]:
    """Slot values a phrase names (the first match per slot); background wording is removed first."""
    text = f" {text.lower()} "
    found: dict[str, Any] = {}
    for slot in ("background", "motion", "count", "colour", "texture", "shape"):
        for pattern, value in _patterns()[slot]:
            match = pattern.search(text)
            if match:
                found[slot] = value
                text = text[: match.start()] + " | " + text[match.end() :]  # never read a word twice
                break
    return found


@functools.lru_cache(maxsize=65536)
def _parse_caption(caption: str) -> tuple[str | None, tuple[tuple[tuple[str, Any], ...], ...]]:
    background, events = _split_caption(caption)
    return background, tuple(tuple(e.items()) for e in events)


def parse_caption(caption: str) -> tuple[str | None, list[dict[str, Any]]]:
    """``(background, [slots of each event])`` of a world caption ("Where: event, then event, ...")."""
    background, events = _parse_caption(caption)
    return background, [dict(e) for e in events]


def _split_caption(caption: str) -> tuple[str | None, list[dict[str, Any]]]:
    """``(background, [slots of each event])`` of a world caption ("Where: event, then event, ...")."""
    head, sep, rest = caption.partition(": ")
    if not sep:
        return parse_phrase(caption).get("background"), []
    background = parse_phrase(head).get("background")
    events = [parse_phrase(part) for part in rest.split(", then ")]
    return background, [{k: v for k, v in e.items() if k != "background"} for e in events if e]


def consistent(event: dict[str, Any], known: dict[str, Any]) -> bool:
    """Whether an event's slots agree with every known slot value (slots the event lacks agree)."""
    return all(event.get(slot, value) == value for slot, value in known.items() if slot != "background")
