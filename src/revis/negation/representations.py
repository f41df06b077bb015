"""Does "without X" have a representation of its own, or does it still carry X? (text encoder only)

For scene phrases S ("a festive scene"), objects X ("red circle") and negation templates
("{scene} without a {object}", ...), with the frozen text encoder:

- pooled: cos(e(S without X), e(S with X)) against cos(e(S without X), e(S)), with ``e`` the
  sentence embedding (mean-pooled token states, normalised). The paper's account predicts the
  first is larger: the negated sentence stays next to the affirmed one. The control: a neutral
  one-word edit of the affirmed sentence (``neutral``, "S next to a X"), cos(e(S next to X),
  e(S with X)) (``pooled_neutral``): "without" moving the sentence no farther than "next to" does
  means the negation carries no more than any other function word.
- per token: X's token states in "S without X" against X's states in "S with X" (``same``),
  against another object Y's states in "S with Y" (``other``, Y shares neither colour nor shape),
  and X's states in "S' with X" for another scene S' (``context``: how much context alone
  moves X). These are what the UNet's cross-attention reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from revis.diffusion.text import TextEncoder

NEGATIONS = (
    "{scene} without a {object}",
    "{scene} with no {object}",
    "{scene}, but no {object}",
    "{scene} and not a {object}",
)
POSITIVE = "{scene} with a {object}"
NEUTRAL = "{scene} next to a {object}"


def _span(ids: list[int], part: list[int]) -> list[int]:
    """Positions of the last occurrence of the token sequence ``part`` in ``ids``."""
    for start in range(len(ids) - len(part), -1, -1):
        if ids[start : start + len(part)] == part:
            return list(range(start, start + len(part)))
    raise ValueError(f"tokens {part} not found in {ids}")


def _unrelated(x: str, objects: list[str]) -> list[str]:
    colour, shape = x.split()[0], x.split()[-1]
    others = [y for y in objects if y.split()[0] != colour and y.split()[-1] != shape]
    return others or [y for y in objects if y != x]


def similarity_table(
    encoder: TextEncoder,
    scenes: list[str],
    objects: list[str],
    negations: tuple[str, ...] | list[str] = NEGATIONS,
    positive: str = POSITIVE,
    neutral: str = NEUTRAL,
) -> dict[str, Any]:
    """Arrays (scenes x objects x negations) of pooled and per-token cosine similarities."""
    sentences: list[str] = list(scenes)
    for s in scenes:
        for x in objects:
            sentences.append(positive.format(scene=s, object=x))
            sentences.append(neutral.format(scene=s, object=x))
            sentences += [n.format(scene=s, object=x) for n in negations]
    sentences = list(dict.fromkeys(sentences))
    where = {t: i for i, t in enumerate(sentences)}
    states, mask = encoder.encode(sentences)
    pooled = F.normalize((states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True), dim=-1)
    ids = [encoder.tokenize([t])["input_ids"][0].tolist() for t in sentences]
    object_ids = {x: encoder.tokenizer(x, add_special_tokens=False)["input_ids"] for x in objects}

    def token_state(sentence: str, x: str) -> torch.Tensor:
        i = where[sentence]
        return F.normalize(states[i, _span(ids[i], object_ids[x])].mean(0), dim=-1)

    shape = (len(scenes), len(objects), len(negations))
    keys = ("pooled_with", "pooled_alone", "pooled_neutral", "token_same", "token_other", "token_context")
    out = {k: np.zeros(shape) for k in keys}
    for a, s in enumerate(scenes):
        for b, x in enumerate(objects):
            pos = positive.format(scene=s, object=x)
            others = _unrelated(x, objects)
            for c, template in enumerate(negations):
                neg = template.format(scene=s, object=x)
                e = pooled[where[neg]]
                out["pooled_with"][a, b, c] = float(e @ pooled[where[pos]])
                out["pooled_alone"][a, b, c] = float(e @ pooled[where[s]])
                # the same for every template: the neutral edit's distance from the affirmed sentence
                out["pooled_neutral"][a, b, c] = float(
                    pooled[where[neutral.format(scene=s, object=x)]] @ pooled[where[pos]]
                )
                h = token_state(neg, x)
                out["token_same"][a, b, c] = float(h @ token_state(pos, x))
                out["token_other"][a, b, c] = float(
                    np.mean([float(h @ token_state(positive.format(scene=s, object=y), y)) for y in others])
                )
                out["token_context"][a, b, c] = float(
                    np.mean(
                        [float(h @ token_state(positive.format(scene=t, object=x), x)) for t in scenes if t != s]
                        or [1.0]
                    )
                )
    return {
        **out,
        "scenes": list(scenes),
        "objects": list(objects),
        "negations": list(negations),
        "positive": positive,
        "neutral": neutral,
    }
