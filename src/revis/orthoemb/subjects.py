"""Subjects of the caption world for zero-shot customization, the pose-changing prompts, and how outputs are scored.

A *subject* is one object identity: colour x shape x texture (plain / striped), 24 in all. Its
*pose* is where it sits; the caption world states position in words ("in the top left corner"),
so pose here is the corner (the world's objects barely vary in size: no size words exist).

- training references: single-object scenes of random subjects at random places; the prompt
  "a S* <region>" states the pose with probability ``pose_in_text`` (else "a S*").
- evaluation cases: a reference in one corner; the prompt asks for the *diagonally opposite*
  corner ("a S* in the bottom right corner"), half of them with a second object in a third
  corner ("... and a blue square in the top right corner").
- scoring by the world's judge: identity (an object with the subject's colour, shape and
  texture is found), leakage (the located subject sits in the reference's quadrant instead of
  the prompt's), compliance (it sits in the prompt's quadrant), fidelity (the second object is found).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from revis.world.captions import COLOURS, SHAPES, SceneObject, region, render
from revis.world.fidelity import in_region
from revis.world.judge import Judgement

CORNERS = {
    "top left": (0.28, 0.28),
    "top right": (0.28, 0.72),
    "bottom left": (0.72, 0.28),
    "bottom right": (0.72, 0.72),
}
OPPOSITE = {
    "top left": "bottom right",
    "bottom right": "top left",
    "top right": "bottom left",
    "bottom left": "top right",
}


@dataclass(frozen=True)
class Subject:
    colour: str
    shape: str
    striped: bool

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def phrase(self) -> str:
        """The subject in the world's caption words ("striped red circle")."""
        return f"striped {self.name}" if self.striped else self.name

    @property
    def index(self) -> int:
        return (list(COLOURS).index(self.colour) * len(SHAPES) + SHAPES.index(self.shape)) * 2 + int(self.striped)


ALL_SUBJECTS = [Subject(c, s, t) for c in COLOURS for s in SHAPES for t in (False, True)]


def random_subject(rng: np.random.Generator) -> Subject:
    return ALL_SUBJECTS[int(rng.integers(len(ALL_SUBJECTS)))]


def training_references(
    n: int, seed: int, size: int, radius: tuple[float, float], pose_in_text: float, noise: float = 4.0
) -> tuple[np.ndarray, list[str], list[Subject]]:
    """(uint8 (n, size, size, 3) single-subject scenes, their "a S* <region>" prompts, their subjects)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), dtype=np.uint8)
    prompts, subjects = [], []
    for i in range(n):
        subject = random_subject(rng)
        r = float(rng.uniform(*radius))
        cy, cx = rng.uniform(r, 1 - r, size=2)
        obj = SceneObject(subject.colour, subject.shape, subject.striped, float(cy), float(cx), r)
        images[i] = render([obj], size, rng, noise)[0]
        where = region(obj)
        prompts.append(f"a S* {where}" if where and rng.random() < pose_in_text else "a S*")
        subjects.append(subject)
    return images, prompts, subjects


@dataclass
class Case:
    """One evaluation case: the reference (subject, corner), the prompt's corner and optional second object."""

    subject: Subject
    reference_corner: str
    target_corner: str
    other: str | None  # a colour x shape name placed in ``other_corner``
    other_corner: str | None

    def prompt(self, subject_words: str = "S*") -> str:
        text = f"a {subject_words} in the {self.target_corner} corner"
        if self.other:
            text += f" and a {self.other} in the {self.other_corner} corner"
        return text


def evaluation_cases(
    n: int, seed: int, size: int, radius: tuple[float, float], noise: float = 4.0
) -> tuple[np.ndarray, list[Case]]:
    """``n`` references, each in a corner, and prompts asking for the opposite corner (every other one with a second object)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), dtype=np.uint8)
    cases = []
    names = [f"{c} {s}" for c in COLOURS for s in SHAPES]
    for i in range(n):
        subject = random_subject(rng)
        corner = list(CORNERS)[int(rng.integers(4))]
        cy, cx = CORNERS[corner]
        jitter = rng.uniform(-0.03, 0.03, size=2)
        obj = SceneObject(
            subject.colour, subject.shape, subject.striped, cy + jitter[0], cx + jitter[1], float(rng.uniform(*radius))
        )
        images[i] = render([obj], size, rng, noise)[0]
        target = OPPOSITE[corner]
        other = other_corner = None
        if i % 2 == 1:
            free = [c for c in CORNERS if c not in (corner, target)]
            other_corner = free[int(rng.integers(len(free)))]
            choices = [m for m in names if m.split()[0] != subject.colour]  # a different colour: tellable apart
            other = choices[int(rng.integers(len(choices)))]
        cases.append(Case(subject, corner, target, other, other_corner))
    return images, cases


def locate_subject(found: list[dict[str, Any]], case: Case) -> dict[str, Any] | None:
    """The judged object taken as the subject: the largest with the subject's colour and shape, else the largest
    object that is not the prompt's second object, else None."""
    same = [o for o in found if o["name"] == case.subject.name]
    rest = [o for o in found if o["name"] != case.other]
    pool = same or rest
    return max(pool, key=lambda o: o["area"]) if pool else None


def score_cases(judgement: Judgement, cases: list[Case]) -> dict[str, np.ndarray]:
    """Per image (bool arrays): identity, leakage, compliance, fidelity (NaN-free: fidelity only where a second object)."""
    n = len(cases)
    out = {
        k: np.zeros(n, dtype=bool) for k in ("identity", "colour_shape", "leakage", "compliance", "fidelity", "found")
    }
    has_other = np.array([c.other is not None for c in cases])
    for i, (found, case) in enumerate(zip(judgement.objects, cases)):
        out["identity"][i] = any(o["name"] == case.subject.name and o["striped"] == case.subject.striped for o in found)
        out["colour_shape"][i] = any(o["name"] == case.subject.name for o in found)
        subject = locate_subject(found, case)
        if subject is not None:
            out["found"][i] = True
            out["leakage"][i] = in_region(subject, case.reference_corner)
            out["compliance"][i] = in_region(subject, case.target_corner)
        if case.other is not None:
            out["fidelity"][i] = any(o["name"] == case.other for o in found)
    out["has_other"] = has_other
    return out
