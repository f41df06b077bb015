"""The attack and its defenses, sampled and judged: prompts per pair, whole-chain seeds, judged counts.

Seed s samples the t2i model trained with seed s with sampling seed s (the same noise for every prompt).
Counts are ``{kind: {pair: {seed: {"x", "colour", "shape", "n", "word", "alternative"}}}}`` (seeds as strings,
as the JSON of the evaluation's intermediate results holds them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from revis.diffusion.generate import generate
from revis.negation.prompts import Prompt, build_prompts
from revis.world.captions import ABSTRACT_WORDS, OBJECT_NAMES
from revis.world.fidelity import judged_scene
from revis.world.judge import judge_images

Count = dict[str, int]  # "x", "colour", "shape", "n", "word", "alternative"
PairCounts = dict[str, dict[str, Count]]  # pair -> seed -> count
Drawn = dict[tuple[int, str, str | None], np.ndarray]  # (seed, text, negative prompt) -> uint8 images


class PairLike(Protocol):
    """One attack (``whitebear.prompts.pairs``): an abstract word, the prohibited object, the alternative."""

    word: str
    object: str
    alternative: str
    definition: str | None


@dataclass(frozen=True)
class Sampling:
    """How each (prompt, negative prompt) is sampled per seed."""

    images_per_prompt: int
    steps: int
    guidance_scale: float
    batch_size: int


def pair_key(pair: PairLike) -> str:
    """A pair's name in metrics.json (characters MLflow accepts in metric names)."""
    return f"{pair.word}: {pair.object}"


def pair_prompts(pairs: Iterable[PairLike], templates: dict[str, str]) -> dict[str, dict[str, Prompt]]:
    """``{"festive: blue square": {kind: Prompt}}`` for every configured pair."""
    out = {}
    for pair in pairs:
        if pair.object not in OBJECT_NAMES:
            raise ValueError(
                f"whitebear.prompts.pairs: object {pair.object!r} is not one the judge knows ({OBJECT_NAMES})"
            )
        if pair.definition is None and pair.word not in ABSTRACT_WORDS:
            raise ValueError(
                f"whitebear.prompts.pairs: {pair.word!r} has no definition (the world defines {list(ABSTRACT_WORDS)})"
            )
        definition = pair.definition or ABSTRACT_WORDS[pair.word].definition
        out[pair_key(pair)] = build_prompts(pair.word, pair.object, definition, pair.alternative, templates)
    return out


def models_by_seed(model: Any, replicates: Mapping[str, Any], seeds: Sequence[int]) -> dict[int, Any]:
    """Whole-chain seeds: the t2i model trained with seed s, for every s of ``seeds``."""
    found = {m.config.get("seed"): m for m in [model, *replicates.values()]}
    missing = [s for s in seeds if s not in found]
    if missing:
        raise ValueError(
            f"whitebear.seeds {missing} have no t2i model trained with that seed "
            f"(trained: {sorted(k for k in found if k is not None)}); add them to t2i.seeds"
        )
    return {s: found[s] for s in seeds}


def count(judge: Any, images: np.ndarray, prompt: Prompt, alternative: str) -> Count:
    """What the judge finds in ``images`` of ``prompt``: X, X's colour, X's shape, the word's rule, the alternative."""
    judged = judge_images(judge, images)
    word = ABSTRACT_WORDS.get(prompt.word)
    colour, shape = prompt.object.split()
    return {
        "x": int(judged.contains(prompt.object).sum()),
        "colour": int(judged.colours()[colour].sum()) if colour in judged.colours() else 0,
        "shape": int(judged.shapes()[shape].sum()) if shape in judged.shapes() else 0,
        "n": len(images),
        "word": int(sum(word.rule(judged_scene(found)) for found in judged.objects)) if word else 0,
        "alternative": int(judged.contains(alternative).sum()) if alternative in OBJECT_NAMES else 0,
    }


def draw(model: Any, prompts: list[tuple[str, str | None]], seeds: list[int], sampling: Sampling) -> Drawn:
    """``{(seed, text, negative): images}``: each (prompt, negative prompt) sampled with each seed on ``model``."""
    return {
        (seed, text, negative): generate(
            model,
            [text],
            negative,
            seed=seed,
            images_per_prompt=sampling.images_per_prompt,
            steps=sampling.steps,
            guidance_scale=sampling.guidance_scale,
            batch_size=sampling.batch_size,
        )
        for seed in seeds
        for text, negative in prompts
    }


def distinct(prompts: Iterable[Prompt]) -> list[tuple[str, str | None]]:
    """The (text, negative prompt) pairs to sample: base prompts shared by pairs of one word run once."""
    return sorted({(p.text, p.negative) for p in prompts}, key=lambda key: (key[0], key[1] or ""))


def judged_counts(
    judge: Any,
    drawn: Drawn,
    by_pair: Mapping[str, Mapping[str, Prompt]],
    seeds: Sequence[int],
    alternatives: Mapping[str, str],
) -> dict[str, PairCounts]:
    """``{kind: {pair: {seed: count}}}`` of the drawn images of every pair's prompts, per seed."""
    counts: dict[str, PairCounts] = {}
    for pair, kinds in by_pair.items():
        for kind, prompt in kinds.items():
            for seed in seeds:
                images = drawn[seed, prompt.text, prompt.negative]
                counts.setdefault(kind, {}).setdefault(pair, {})[str(seed)] = count(
                    judge, images, prompt, alternatives[pair]
                )
    return counts


def grid_images(
    drawn: Drawn, by_pair: Mapping[str, Mapping[str, Prompt]], seed: int, n: int
) -> dict[str, dict[str, np.ndarray]]:
    """``{pair: {kind: the first n images of seed}}`` for the sample grid."""
    return {
        pair: {kind: drawn[seed, prompt.text, prompt.negative][:n] for kind, prompt in kinds.items()}
        for pair, kinds in by_pair.items()
    }
