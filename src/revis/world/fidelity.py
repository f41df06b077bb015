"""Prompt fidelity: does the judge's reading of an image agree with what its caption states?

Aspects, each a count of (hits, trials) over the captions that state it:

==============  ============================================================================
objects         each distinct colour x shape a caption names is found in the image (recall)
colours         each distinct colour named is found
shapes          each distinct shape named is found
exact_objects   the image holds exactly the named colour x shape types (no more, no fewer)
count           the judge counts as many objects as the caption describes
regions         an object placed by the caption ("a red circle on the left") is found there
placement       an object placed by the caption *and drawn* sits there: where, given what (with shuffled
                captions it is chance: a shuffled place says nothing about where the drawn object is)
relations       "a above b": both found, and a's centre is above b's
abstract        a caption with an abstract word: the word's rule holds on what the judge reads
==============  ============================================================================

Captions that only name an abstract word ("festive") state no objects; they count for
``abstract`` only. Regions are judged leniently (left = centre in the left half).
``regions`` needs the object drawn *and* placed, so against shuffled captions (whose objects are mostly
absent) it rises with identity alone; ``placement`` asks only where, among the stated objects the image holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from revis.world.captions import ABSTRACT_WORDS, CaptionRecord, SceneObject
from revis.world.judge import Judgement

ASPECTS = ("objects", "colours", "shapes", "exact_objects", "count", "regions", "placement", "relations", "abstract")


def in_region(obj: dict[str, Any], phrase: str) -> bool:
    """Whether a judged object's centre lies in the region a caption phrase names (halves of the image)."""
    ok = True
    if "left" in phrase:
        ok &= obj["cx"] < 0.5
    if "right" in phrase:
        ok &= obj["cx"] > 0.5
    if "top" in phrase:
        ok &= obj["cy"] < 0.5
    if "bottom" in phrase:
        ok &= obj["cy"] > 0.5
    return bool(ok)


def holds(a: dict[str, Any], relation: str, b: dict[str, Any]) -> bool:
    if relation == "above":
        return a["cy"] < b["cy"]
    if relation == "below":
        return a["cy"] > b["cy"]
    if relation == "to the left of":
        return a["cx"] < b["cx"]
    if relation == "to the right of":
        return a["cx"] > b["cx"]
    raise ValueError(f"unknown relation {relation!r}")


def judged_scene(found: list[dict[str, Any]]) -> list[SceneObject]:
    """The judge's objects as scene objects (radius unknown: 0), for the abstract words' rules."""
    objects = []
    for o in found:
        colour, shape = o["name"].split()
        objects.append(SceneObject(colour, shape, o["striped"], o["cy"], o["cx"], 0.0))
    return objects


def _object_checks(found: list[dict[str, Any]], record: CaptionRecord) -> list[tuple[str, bool]]:
    """(aspect, held) for what a caption naming objects states: its objects, colours, shapes, their exact set
    and count, the regions and relations it states."""
    names_found = {o["name"] for o in found}
    named = {f"{o['colour']} {o['shape']}" for o in record.objects}
    checks = [("objects", name in names_found) for name in sorted(named)]
    checks += [("colours", c in {n.split()[0] for n in names_found}) for c in sorted({n.split()[0] for n in named})]
    checks += [("shapes", s in {n.split()[1] for n in names_found}) for s in sorted({n.split()[1] for n in named})]
    checks += [("exact_objects", names_found == named), ("count", len(found) == len(record.objects))]
    stated = record.stated or {"regions": [], "relations": []}
    for name, phrase in stated["regions"]:
        drawn = [o for o in found if o["name"] == name]
        checks.append(("regions", any(in_region(o, phrase) for o in drawn)))
        if drawn:
            checks.append(("placement", any(in_region(o, phrase) for o in drawn)))
    for a, relation, b in stated["relations"]:
        first = {o["name"]: o for o in reversed(found)}  # the first object found of each type
        checks.append(("relations", a in first and b in first and holds(first[a], relation, first[b])))
    return checks


def caption_fidelity(judgement: Judgement, records: list[CaptionRecord]) -> dict[str, tuple[int, int]]:
    """(hits, trials) per aspect for images judged in ``judgement`` and the captions they were drawn from."""
    if len(records) != len(judgement.present):
        raise ValueError(f"{len(records)} captions for {len(judgement.present)} judged images")
    hits = dict.fromkeys(ASPECTS, 0)
    trials = dict.fromkeys(ASPECTS, 0)
    for found, record in zip(judgement.objects, records):
        checks = [
            ("abstract", ABSTRACT_WORDS[word].rule(judged_scene(found)))
            for word in (record.abstract if record.form != "description" else [])
        ]
        if record.form != "abstract":
            checks += _object_checks(found, record)
        for aspect, ok in checks:
            hits[aspect] += int(ok)
            trials[aspect] += 1
    return {aspect: (hits[aspect], trials[aspect]) for aspect in ASPECTS}


def shuffled(records: list[CaptionRecord], seed: int) -> list[CaptionRecord]:
    """The captions in a random order with no caption left in place (the chance baseline of fidelity)."""
    n = len(records)
    if n < 2:
        return list(records)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    order = np.roll(order, 1)[np.argsort(order)]  # a cyclic shift in permuted order: a derangement
    return [records[i] for i in order]
