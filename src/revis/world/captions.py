"""The caption world: small scenes of 1-4 objects with captions in varied wording (text-to-image data).

Objects have a colour (red, yellow: *bright*; blue, green: *dark*), a shape (circle, square,
triangle) and a texture (plain or striped), and sit at known positions. Every scene gets one
positive caption ("a striped red circle above a blue square", "two yellow triangles and a
green circle", "a single dark green square on the left") -- no negation, as in web captions.

*Abstract* scene words have no object of their own; the world defines them only through
co-occurrence: a caption uses the word (alone, "a festive scene", or with the description,
"festive: ...") exactly when the scene satisfies the word's rule.

==========  ==============================================  ==============================
word        rule on the scene                               definition (whitebear's D1)
==========  ==============================================  ==============================
festive     3-4 objects, every one bright (red / yellow)    several bright objects
calm        one plain dark (blue / green) object            a single plain dark object
busy        4 objects, both tones, at least two striped     four objects, some striped
==========  ==============================================  ==============================

The rules are disjoint. ``negation_fraction`` appends "without <object>" (an object type
absent from the scene) to that share of captions: the ablation of whitebear, where negation
*is* seen in training.

Ground truth per image: the objects (colour, shape, texture, centre, radius as fractions of
the image), the judge's label vector (presence of each colour x shape), the count, whether
any object is striped, and the abstract words that hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from revis.world.draw import shape_mask

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (222, 42, 38),
    "yellow": (240, 196, 28),
    "blue": (40, 72, 212),
    "green": (30, 140, 62),
}
TONES = {"red": "bright", "yellow": "bright", "blue": "dark", "green": "dark"}
SHAPES = ("circle", "square", "triangle")
BACKGROUND = (188, 188, 182)
# the judge's presence labels: one per colour x shape ("red circle", ...)
OBJECT_NAMES = [f"{colour} {shape}" for colour in COLOURS for shape in SHAPES]
COUNT_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}
MAX_OBJECTS = 4
STRIPED_FLAG = 64  # label-map code offset of a striped object's pixels


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    striped: bool
    cy: float  # centre, fraction of the image height (0 = top)
    cx: float  # centre, fraction of the image width (0 = left)
    radius: float  # fraction of the image size

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def tone(self) -> str:
        return TONES[self.colour]


Scene = list[SceneObject]


@dataclass(frozen=True)
class AbstractWord:
    name: str
    rule: Callable[[Scene], bool]
    definition: str  # in the world's own caption vocabulary
    kinds: Callable[
        [np.random.Generator], list[tuple[str, str, bool]]
    ]  # draws (colour, shape, striped) that satisfy it


def _festive(scene: Scene) -> bool:
    return len(scene) >= 3 and all(o.tone == "bright" for o in scene)


def _calm(scene: Scene) -> bool:
    return len(scene) == 1 and scene[0].tone == "dark" and not scene[0].striped


def _busy(scene: Scene) -> bool:
    return len(scene) == 4 and {o.tone for o in scene} == {"bright", "dark"} and sum(o.striped for o in scene) >= 2


def _colours_of(tone: str) -> list[str]:
    return [c for c, t in TONES.items() if t == tone]


def _draw_festive(rng: np.random.Generator) -> list[tuple[str, str, bool]]:
    bright = _colours_of("bright")
    n = int(rng.integers(3, 5))
    return [(str(rng.choice(bright)), str(rng.choice(SHAPES)), bool(rng.random() < 0.25)) for _ in range(n)]


def _draw_calm(rng: np.random.Generator) -> list[tuple[str, str, bool]]:
    return [(str(rng.choice(_colours_of("dark"))), str(rng.choice(SHAPES)), False)]


def _draw_busy(rng: np.random.Generator) -> list[tuple[str, str, bool]]:
    tones = ["bright", "dark"] + [str(rng.choice(["bright", "dark"])) for _ in range(2)]
    striped = [True, True] + [bool(rng.random() < 0.5) for _ in range(2)]
    order = rng.permutation(4)
    return [
        (str(rng.choice(_colours_of(tones[i]))), str(rng.choice(SHAPES)), striped[j])
        for i, j in zip(order, rng.permutation(4))
    ]


ABSTRACT_WORDS: dict[str, AbstractWord] = {
    "festive": AbstractWord("festive", _festive, "several bright objects", _draw_festive),
    "calm": AbstractWord("calm", _calm, "a single plain dark object", _draw_calm),
    "busy": AbstractWord("busy", _busy, "four objects, some striped", _draw_busy),
}


def abstract_words_of(scene: Scene) -> list[str]:
    """The abstract words whose rule the scene satisfies (at most one: the rules are disjoint)."""
    return [name for name, word in ABSTRACT_WORDS.items() if word.rule(scene)]


# ---------------------------------------------------------------------------------------------
# scenes and pixels


def _place(
    rng: np.random.Generator, radii: list[float], gap: float, tries: int = 64
) -> list[tuple[float, float]] | None:
    """Centres (fractions) of non-overlapping discs inside the unit square, or None when they do not fit."""
    centres: list[tuple[float, float]] = []
    for r in radii:
        candidates = rng.uniform(r, 1 - r, size=(tries, 2))
        ok = np.ones(tries, dtype=bool)
        for (y, x), rr in zip(centres, radii):
            ok &= ((candidates[:, 0] - y) ** 2 + (candidates[:, 1] - x) ** 2) > (r + rr + gap) ** 2
        if not ok.any():
            return None
        cy, cx = candidates[int(np.argmax(ok))]
        centres.append((float(cy), float(cx)))
    return centres


def _place_on_grid(
    rng: np.random.Generator, radii: list[float], gap: float, grid: int, jitter: float = 0.02
) -> list[tuple[float, float]] | None:
    """Centres on a ``grid`` x ``grid`` lattice of cell centres (a coarse grid: every place has a name, "in the top
    left corner", "on the left", or the middle), jittered by up to ``jitter``, non-overlapping; None when they do not fit.
    """
    cells = [(i, j) for i in range(grid) for j in range(grid)]
    lattice = np.linspace(0.25, 0.75, grid) if grid > 1 else np.array([0.5])
    centres: list[tuple[float, float]] = []
    for r in radii:
        free = []
        for k in rng.permutation(len(cells)):
            cy, cx = (float(np.clip(lattice[c] + rng.uniform(-jitter, jitter), r, 1 - r)) for c in cells[k])
            if all((cy - y) ** 2 + (cx - x) ** 2 > (r + rr + gap) ** 2 for (y, x), rr in zip(centres, radii)):
                free.append((cy, cx))
                break
        if not free:
            return None
        centres.append(free[0])
    return centres


def random_kinds(rng: np.random.Generator, striped_prob: float = 0.25) -> list[tuple[str, str, bool]]:
    """1-4 objects of uniformly random colour and shape; striped with ``striped_prob``."""
    n = int(rng.integers(1, MAX_OBJECTS + 1))
    colours = list(COLOURS)
    return [(str(rng.choice(colours)), str(rng.choice(SHAPES)), bool(rng.random() < striped_prob)) for _ in range(n)]


def sample_scene(
    rng: np.random.Generator,
    abstract_share: float = 0.45,
    radius: tuple[float, float] = (0.15, 0.2),
    striped_prob: float = 0.25,
    grid: int = 0,
) -> Scene:
    """A scene: with probability ``abstract_share`` drawn to satisfy one abstract word (uniformly), else random.

    ``grid`` > 0: objects sit on a ``grid`` x ``grid`` lattice (``_place_on_grid``); 0: anywhere (``_place``).
    """
    while True:
        if rng.random() < abstract_share:
            word = ABSTRACT_WORDS[str(rng.choice(list(ABSTRACT_WORDS)))]
            kinds = word.kinds(rng)
        else:
            kinds = random_kinds(rng, striped_prob)
        for _ in range(50):  # the same objects, new sizes and places, until they fit
            radii = list(rng.uniform(*radius, size=len(kinds)))
            centres = _place_on_grid(rng, radii, 0.03, grid) if grid else _place(rng, radii, gap=0.03)
            if centres is not None:
                return [
                    SceneObject(c, s, t, float(cy), float(cx), float(r))
                    for (c, s, t), (cy, cx), r in zip(kinds, centres, radii)
                ]


def render(
    scene: Scene, size: int, rng: np.random.Generator, noise: float = 4.0, supersample: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 image (size, size, 3), uint8 label map (size, size)) of a scene.

    Drawn at ``supersample`` x the size and box-averaged (anti-aliased edges). The label map
    holds 0 for background and ``1 + OBJECT_NAMES.index(name)`` where an object covers at least
    half of the pixel (+ ``STRIPED_FLAG`` for a striped object): the judge's per-pixel truth.
    """
    big = size * supersample
    canvas = np.empty((big, big, 3), dtype=np.float32)
    canvas[:] = np.array(BACKGROUND, dtype=np.float32) + rng.normal(0, 4, size=3)
    ids = np.zeros((big, big), dtype=np.int64)
    ys, xs = np.mgrid[0:big, 0:big]
    for index, obj in enumerate(scene, start=1):
        mask = shape_mask(
            obj.shape, big, big, obj.cy * big, obj.cx * big, obj.radius * big, angle=rng.uniform(-0.2, 0.2)
        )
        colour = np.array(COLOURS[obj.colour], dtype=np.float32) + rng.normal(0, 6, size=3)
        pixels = np.broadcast_to(colour, (big, big, 3)).copy()
        if obj.striped:  # dark diagonal stripes, about three across an object
            period = max(2, round(obj.radius * big * 0.9))
            lines = ((xs + ys) // max(1, period // 2)) % 2 == 0
            pixels[lines] *= 0.38
        canvas[mask] = pixels[mask]
        ids[mask] = index
    small = canvas.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))
    small += rng.normal(0, noise, size=small.shape)
    coverage = (
        np.eye(len(scene) + 1, dtype=np.float32)[ids]
        .reshape(size, supersample, size, supersample, -1)
        .mean(axis=(1, 3))
    )
    owner = coverage.argmax(axis=-1)
    codes = np.array([0] + [1 + OBJECT_NAMES.index(o.name) + (STRIPED_FLAG if o.striped else 0) for o in scene])
    return small.clip(0, 255).round().astype(np.uint8), codes[owner].astype(np.uint8)


def split_codes(label_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A label map -> (class map: 0 background, 1 + object index; striped map: bool)."""
    return label_map % STRIPED_FLAG, label_map >= STRIPED_FLAG


def labels_of(scene: Scene) -> np.ndarray:
    """Presence (float32, len(OBJECT_NAMES)) of each colour x shape in the scene."""
    present = np.zeros(len(OBJECT_NAMES), dtype=np.float32)
    for obj in scene:
        present[OBJECT_NAMES.index(obj.name)] = 1.0
    return present


# ---------------------------------------------------------------------------------------------
# captions


def region(obj: SceneObject) -> str | None:
    """Where the object is, in caption words ("on the left", "in the top right corner"), or None (middle)."""
    h = "left" if obj.cx < 0.4 else "right" if obj.cx > 0.6 else None
    v = "top" if obj.cy < 0.4 else "bottom" if obj.cy > 0.6 else None
    if h and v:
        return f"in the {v} {h} corner"
    if h:
        return f"on the {h}"
    if v:
        return f"at the {v}"
    return None


def relation(a: SceneObject, b: SceneObject) -> str:
    """a's place relative to b along the axis where they differ most."""
    dy, dx = a.cy - b.cy, a.cx - b.cx
    if abs(dy) >= abs(dx):
        return "above" if dy < 0 else "below"
    return "to the left of" if dx < 0 else "to the right of"


def _adjectives(obj: SceneObject, rng: np.random.Generator) -> list[str]:
    words = []
    if rng.random() < 0.15:
        words.append(obj.tone)
    if obj.striped:
        words.append("striped")
    elif rng.random() < 0.1:
        words.append("plain")
    return words


def object_phrase(obj: SceneObject, rng: np.random.Generator, article: str = "a") -> str:
    """ "a striped red circle", "a bright yellow square", "a red circle with stripes"."""
    words = _adjectives(obj, rng)
    if obj.striped and rng.random() < 0.3:
        words.remove("striped")
        return " ".join([article, *words, obj.colour, obj.shape, "with stripes"])
    return " ".join([article, *words, obj.colour, obj.shape])


def _plural(group: list[SceneObject], rng: np.random.Generator) -> str:
    first = group[0]
    if len(group) == 1:
        return object_phrase(first, rng)
    texture = ["striped"] if first.striped else []
    return " ".join([COUNT_WORDS[len(group)], *texture, first.colour, first.shape + "s"])


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def describe(scene: Scene, rng: np.random.Generator) -> tuple[str, dict[str, list]]:
    """A complete positive description of the scene in one of several wordings, and the places it states.

    Stated places: ``{"regions": [[object, region phrase]], "relations": [[a, relation, b]]}``.
    """
    n = len(scene)
    regions: list[list[str]] = []
    relations: list[list[str]] = []

    def located(obj: SceneObject, article: str = "a") -> str:
        where = region(obj)
        if where is None:
            return object_phrase(obj, rng, article)
        regions.append([obj.name, where])
        return f"{object_phrase(obj, rng, article)} {where}"

    def related(a: SceneObject, b: SceneObject) -> str:
        rel = relation(a, b)
        relations.append([a.name, rel, b.name])
        return f"{object_phrase(a, rng)} {rel} {object_phrase(b, rng)}"

    form = int(rng.integers(5 if n == 1 else 4))
    if n == 1:
        (obj,) = scene
        text = [
            lambda: located(obj),
            lambda: object_phrase(obj, rng),
            lambda: "there is " + located(obj),
            lambda: object_phrase(obj, rng, "a single"),
            lambda: located(obj, "one"),
        ][form]()
    elif n == 2:
        a, b = scene
        text = [
            lambda: related(a, b),
            lambda: f"{located(a)} and {located(b)}",
            lambda: f"two objects: {object_phrase(a, rng)} and {object_phrase(b, rng)}",
            lambda: related(b, a),
        ][form]()
    else:
        groups: dict[tuple[str, str, bool], list[SceneObject]] = {}
        for obj in scene:
            groups.setdefault((obj.colour, obj.shape, obj.striped), []).append(obj)
        text = [
            lambda: _join([_plural(g, rng) for g in groups.values()]),
            lambda: f"{COUNT_WORDS[n]} objects: {_join([_plural(g, rng) for g in groups.values()])}",
            lambda: _join([located(o) for o in scene]),
            lambda: f"several objects: {_join([located(o) for o in scene])}",
        ][form]()
    return text, {"regions": regions, "relations": relations}


def caption(scene: Scene, rng: np.random.Generator, abstract_prob: float = 0.7) -> tuple[str, str, dict[str, list]]:
    """(caption, form, stated places). Uses the scene's abstract word (if any) with probability ``abstract_prob``.

    form: "abstract" (the word alone: no object named), "abstract+description" or "description".
    """
    words = abstract_words_of(scene)
    nothing: dict[str, list] = {"regions": [], "relations": []}
    if words and rng.random() < abstract_prob:
        word = words[0]
        if rng.random() < 0.5:
            return (
                str(rng.choice([word, f"a {word} scene", f"a {word} picture", f"something {word}"])),
                "abstract",
                nothing,
            )
        desc, stated = describe(scene, rng)
        text = str(rng.choice([f"a {word} scene with {desc}", f"{word}: {desc}", f"{desc}, {word}"]))
        return text, "abstract+description", stated
    desc, stated = describe(scene, rng)
    return desc, "description", stated


def absent_object(scene: Scene, rng: np.random.Generator) -> str:
    """A colour x shape that the scene does not contain ("blue square")."""
    present = {o.name for o in scene}
    return str(rng.choice([name for name in OBJECT_NAMES if name not in present]))


def negate(text: str, name: str, rng: np.random.Generator) -> str:
    """Append a true negation clause: "<caption> without a blue square" (and two other wordings)."""
    form = str(rng.choice(["{} without a {}", "{}, but no {}", "{} and no {}"]))
    return form.format(text, name)


# ---------------------------------------------------------------------------------------------
# the dataset


@dataclass
class CaptionRecord:
    key: str
    caption: str
    objects: list[dict[str, Any]]
    abstract: list[str]
    negated: str | None  # the absent object named by a "without" clause (ablation captions)
    form: str = "description"  # abstract | abstract+description | description (see ``caption``)
    stated: dict[str, list] | None = None  # places the caption states (see ``describe``)

    @property
    def scene(self) -> Scene:
        return [SceneObject(**o) for o in self.objects]

    def ground_truth(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "abstract": self.abstract,
            "negated": self.negated,
            "form": self.form,
            "stated": self.stated or {"regions": [], "relations": []},
        }


@dataclass
class CaptionSplit:
    """Images (uint8 N, H, W, 3) with one caption, per-pixel label maps and the ground truth each."""

    images: np.ndarray
    records: list[CaptionRecord]
    label_maps: np.ndarray | None = None  # uint8 (N, H, W), see ``render``

    def __len__(self) -> int:
        return len(self.records)

    @property
    def captions(self) -> list[str]:
        return [r.caption for r in self.records]

    def labels(self) -> np.ndarray:
        """(N, len(OBJECT_NAMES)) presence of every colour x shape."""
        return (
            np.stack([labels_of(r.scene) for r in self.records]) if self.records else np.zeros((0, len(OBJECT_NAMES)))
        )

    def counts(self) -> np.ndarray:
        return np.array([len(r.objects) for r in self.records], dtype=np.int64)

    def striped(self) -> np.ndarray:
        return np.array([any(o["striped"] for o in r.objects) for r in self.records], dtype=np.float32)


def generate_captions(
    n: int,
    seed: int,
    size: int = 16,
    abstract_share: float = 0.45,
    abstract_prob: float = 0.7,
    negation_fraction: float = 0.0,
    radius: tuple[float, float] = (0.15, 0.2),
    striped_prob: float = 0.25,
    noise: float = 4.0,
    prefix: str = "",
    grid: int = 0,
) -> CaptionSplit:
    """``n`` captioned scenes, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), dtype=np.uint8)
    maps = np.zeros((n, size, size), dtype=np.uint8)
    records: list[CaptionRecord] = []
    for i in range(n):
        scene = sample_scene(rng, abstract_share, radius, striped_prob, grid)
        images[i], maps[i] = render(scene, size, rng, noise)
        text, form, stated = caption(scene, rng, abstract_prob)
        negated = None
        if negation_fraction > 0 and rng.random() < negation_fraction:
            negated = absent_object(scene, rng)
            text = negate(text, negated, rng)
        records.append(
            CaptionRecord(
                f"{prefix}{i:06d}", text, [asdict(o) for o in scene], abstract_words_of(scene), negated, form, stated
            )
        )
    return CaptionSplit(images, records, maps)


def with_negations(split: CaptionSplit, fraction: float, seed: int) -> CaptionSplit:
    """The same images and captions, with a "without <absent object>" clause added to ``fraction`` of them."""
    rng = np.random.default_rng(seed)
    records = []
    for record in split.records:
        if rng.random() < fraction:
            name = absent_object(record.scene, rng)
            record = CaptionRecord(
                record.key,
                negate(record.caption, name, rng),
                record.objects,
                record.abstract,
                name,
                record.form,
                record.stated,
            )
        records.append(record)
    return CaptionSplit(split.images, records, split.label_maps)


def vocabulary() -> dict[str, Any]:
    """The world's words, written beside the data (``world.json``)."""
    return {
        "colours": {c: {"rgb": list(v), "tone": TONES[c]} for c, v in COLOURS.items()},
        "shapes": list(SHAPES),
        "textures": ["plain", "striped"],
        "objects": list(OBJECT_NAMES),
        "abstract_words": {w.name: {"definition": w.definition} for w in ABSTRACT_WORDS.values()},
        "background": list(BACKGROUND),
    }


def to_samples(split: CaptionSplit) -> list[dict[str, Any]]:
    """WebDataset samples: ``png`` image, ``seg.png`` label map, ``txt`` caption, ``json`` ground truth."""
    samples = []
    for i, record in enumerate(split.records):
        sample: dict[str, Any] = {"__key__": record.key, "png": split.images[i], "txt": record.caption}
        sample["json"] = record.ground_truth()
        if split.label_maps is not None:
            sample["seg.png"] = split.label_maps[i]
        samples.append(sample)
    return samples


def from_samples(samples: list[dict[str, Any]]) -> CaptionSplit:
    """A split from WebDataset samples (a real corpus without ``json`` ground truth gets empty objects)."""
    records: list[CaptionRecord] = []
    images: list[np.ndarray] = []  # decoded png or jpg
    maps: list[np.ndarray] = []
    for sample in samples:
        truth = sample.get("json") or {}
        images.append(sample["png"] if "png" in sample else sample["jpg"])
        if "seg.png" in sample:
            maps.append(sample["seg.png"])
        records.append(
            CaptionRecord(
                key=sample["__key__"],
                caption=sample.get("txt", ""),
                objects=truth.get("objects", []),
                abstract=truth.get("abstract", []),
                negated=truth.get("negated"),
                form=truth.get("form", "description"),
                stated=truth.get("stated"),
            )
        )
    label_maps = np.stack(maps) if maps and len(maps) == len(images) else None
    return CaptionSplit(np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8), records, label_maps)
