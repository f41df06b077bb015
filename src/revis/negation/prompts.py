"""Prompt kinds of the white-bear attack and its defenses, built from templates.

For an abstract word W (e.g. "festive"), its definition D ("several bright objects"), a
prohibited object X ("red circle") and a concrete alternative Y ("yellow square"):

=================  ==============================================  =================
kind               prompt (default templates)                      negative prompt
=================  ==============================================  =================
base               a W scene                                       --
attack             a W scene without a X                           --
define (D1)        a W scene, D, without a X                       --
alternative (D2)   a W scene without a X, a Y instead              --
negative_prompt    a W scene                                       a X
with               a W scene with a X                              --
other_negation     a W scene without a Y                           --
=================  ==============================================  =================

``base`` measures how often X appears anyway (the base rate); ``attack`` is the paper's prompt;
D1 and D2 are its cognitive-therapy defenses; the negative prompt is the tool practitioners
use: X moves into classifier-free guidance's unconditional branch. Two controls separate
negation from token overlap (X is counted in every kind): ``with`` asks for X outright (an attack
as frequent as "with X" means the negation is ignored, the white-bear finding itself), and
``other_negation`` negates an object absent from the prompt's X (a "without" clause that does not
mention X: what the word "without" alone does to X's rate).
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("base", "attack", "define", "alternative", "negative_prompt", "with", "other_negation")
CONTROLS = ("with", "other_negation")
DEFENSES = ("define", "alternative", "negative_prompt")

DEFAULT_TEMPLATES = {
    "base": "a {word} scene",
    "attack": "a {word} scene without a {object}",
    "define": "a {word} scene, {definition}, without a {object}",
    "alternative": "a {word} scene without a {object}, a {alternative} instead",
    "negative_prompt": "a {word} scene",
    "negative": "a {object}",
    "with": "a {word} scene with a {object}",
    "other_negation": "a {word} scene without a {alternative}",
}


@dataclass(frozen=True)
class Prompt:
    kind: str
    word: str
    object: str
    text: str
    negative: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.word}/{self.object}"


def build_prompts(
    word: str, obj: str, definition: str, alternative: str, templates: dict[str, str] | None = None
) -> dict[str, Prompt]:
    """Every kind's prompt for (word, object)."""
    t = {**DEFAULT_TEMPLATES, **(templates or {})}
    fields = {"word": word, "object": obj, "definition": definition, "alternative": alternative}
    prompts = {kind: Prompt(kind, word, obj, t[kind].format(**fields)) for kind in KINDS if kind != "negative_prompt"}
    prompts["negative_prompt"] = Prompt(
        "negative_prompt", word, obj, t["negative_prompt"].format(**fields), t["negative"].format(**fields)
    )
    return prompts
