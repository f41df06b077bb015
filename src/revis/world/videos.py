"""Mini-world videos with text: the QVHighlights task (and MERLIN's gallery) on procedural data.

A video is one frame per 2-second clip (QVHighlights' unit) on a fixed background. Over time,
*events* appear in segments of consecutive clips: a group of ``count`` objects of one
``colour``, ``texture``, ``shape`` and ``motion`` (moving objects drift across the frame and
leave a fading trail behind them, so one frame shows the direction). Objects fade in and out
(``visibility_profile``: a smooth bump over the segment; faint objects are also drawn smaller).
Between segments the background is empty.

- **Distractors**: most events of a video are variations of another one (one to three of the
  five attributes changed), so a query must name what tells its event apart.
- **Queries**: per target event, the attributes that tell it from the video's other events
  (plus a few more), phrased from templates with synonyms and varied word order.
- **Saliency**: every clip of the target's segments is relevant; three annotators score it
  0-4 from how well it shows the event (``4 x visibility``: faint clips score lower) plus a
  per-annotator bias and per-clip noise, rounded and clipped. Captions and descriptions never
  mention visibility, so a zero-shot encoder sees *what* is there, not *how well*.
- **Near-duplicate families**: a family's videos share everything except one attribute of
  one event (or the background), so short queries are truly ambiguous (MERLIN). Families
  never cross splits.
- **Text**: per clip a description of everything visible (``clips[i].description``), per video
  a caption, all from the same phrasing machinery (``phrase_event``) that other pipelines can
  reuse to word their own queries.

On disk (``revis.datasets.qvhighlights.write_qvh_folder``) the world is a QVHighlights
folder: the three ``highlight_*_release.jsonl`` files, ``videos/<vid>.npy`` and ``world.json``
(captions, per-clip descriptions and attributes, families, which attributes each query names).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from revis.datasets.qvhighlights import CLIP_LENGTH, QvhQuery, clamp_indices
from revis.world.draw import place_without_overlap, smooth_background, stripe_pattern

ATTRIBUTES = ("count", "colour", "texture", "shape", "motion")
VALUES: dict[str, tuple[Any, ...]] = {
    "count": (1, 2, 3),
    "colour": ("red", "green", "blue", "yellow", "purple"),
    "texture": ("plain", "striped"),
    "shape": ("circle", "square", "triangle", "cross", "ring"),
    "motion": ("still", "left", "right", "up", "down"),
}
BACKGROUNDS = ("grass", "sand", "night", "snow")
COLOUR_RGB = {
    "red": (215, 45, 40),
    "green": (40, 175, 70),
    "blue": (45, 85, 230),
    "yellow": (240, 215, 40),
    "purple": (150, 55, 195),
}
BACKGROUND_RGB = {"grass": (95, 135, 70), "sand": (200, 178, 128), "night": (30, 35, 70), "snow": (222, 226, 234)}
# The broad vocabulary (``WorldConfig.vocabulary = "broad"``): the base values plus more colours, shapes and
# backgrounds, a wider world to pretrain an encoder on (CLIP's role) before it meets the base world's highlights.
# Base values keep their index (extras are appended); the base tables above stay as they are (MERLIN's slots).
EXTRA_VALUES: dict[str, tuple[Any, ...]] = {"colour": ("orange", "pink", "cyan"), "shape": ("diamond", "bar")}
EXTRA_BACKGROUNDS = ("water", "stone")
BROAD_VALUES: dict[str, tuple[Any, ...]] = {a: (*VALUES[a], *EXTRA_VALUES.get(a, ())) for a in ATTRIBUTES}
BROAD_BACKGROUNDS = (*BACKGROUNDS, *EXTRA_BACKGROUNDS)
VOCABULARIES = {"base": (VALUES, BACKGROUNDS), "broad": (BROAD_VALUES, BROAD_BACKGROUNDS)}
EXTRA_COLOUR_RGB = {"orange": (245, 140, 30), "pink": (240, 125, 185), "cyan": (40, 205, 215)}
EXTRA_BACKGROUND_RGB = {"water": (45, 100, 150), "stone": (125, 122, 118)}
DIRECTIONS = {"still": (0.0, 0.0), "left": (0.0, -1.0), "right": (0.0, 1.0), "up": (-1.0, 0.0), "down": (1.0, 0.0)}

# ----------------------------------------------------------------------------- wording

COUNT_WORDS = {1: ("one", "a single", "a lone"), 2: ("two", "a pair of", "2"), 3: ("three", "a trio of", "3")}
COLOUR_WORDS = {
    "red": ("red", "crimson", "scarlet"),
    "green": ("green", "emerald", "lime"),
    "blue": ("blue", "cobalt", "azure"),
    "yellow": ("yellow", "golden", "lemon"),
    "purple": ("purple", "violet", "lilac"),
}
TEXTURE_WORDS = {"plain": ("plain", "solid", "uniform"), "striped": ("striped", "stripy", "banded")}
SHAPE_WORDS = {
    "circle": (("circle", "circles"), ("disc", "discs"), ("dot", "dots")),
    "square": (("square", "squares"), ("box", "boxes"), ("block", "blocks")),
    "triangle": (("triangle", "triangles"), ("wedge", "wedges")),
    "cross": (("cross", "crosses"), ("plus sign", "plus signs")),
    "ring": (("ring", "rings"), ("hoop", "hoops"), ("donut", "donuts")),
    None: (("shape", "shapes"), ("object", "objects"), ("thing", "things")),
}
MOTION_WORDS = {
    "still": ("standing still", "not moving", "resting", "staying put"),
    "left": ("moving left", "drifting to the left", "sliding leftwards", "heading left"),
    "right": ("moving right", "drifting to the right", "sliding rightwards", "heading right"),
    "up": ("moving up", "rising", "floating upwards", "climbing"),
    "down": ("moving down", "falling", "sinking", "dropping down"),
}
BACKGROUND_WORDS = {
    "grass": ("on the grass", "on a lawn", "over a green field"),
    "sand": ("on the sand", "on a beach", "in the desert"),
    "night": ("at night", "against a dark sky", "in the dark"),
    "snow": ("in the snow", "on a snowy field", "over white snow"),
}
EXTRA_COLOUR_WORDS = {
    "orange": ("orange", "tangerine", "amber"),
    "pink": ("pink", "rosy", "salmon"),
    "cyan": ("cyan", "turquoise", "teal"),
}
EXTRA_SHAPE_WORDS: dict[str | None, tuple[tuple[str, str], ...]] = {
    "diamond": (("diamond", "diamonds"), ("rhombus", "rhombuses"), ("lozenge", "lozenges")),
    "bar": (("bar", "bars"), ("stick", "sticks"), ("strip", "strips")),
}
EXTRA_BACKGROUND_WORDS = {
    "water": ("on the water", "over a lake", "on the sea"),
    "stone": ("on stone", "on a rocky floor", "over grey rocks"),
}
EMPTY_WORDS = {
    "grass": ("an empty lawn", "nothing but grass", "just the green field, nothing in it"),
    "sand": ("an empty beach", "nothing but sand", "just the desert, nothing in it"),
    "night": ("an empty night sky", "nothing but darkness", "just the dark sky, nothing in it"),
    "snow": ("an empty snowy field", "nothing but snow", "just the snow, nothing in it"),
}
EXTRA_EMPTY_WORDS = {
    "water": ("an empty lake", "nothing but water", "just the water, nothing on it"),
    "stone": ("an empty rocky floor", "nothing but stone", "just the rocks, nothing on them"),
}
# what wording and rendering look values up in: base and broad vocabularies
ALL_COLOUR_WORDS = {**COLOUR_WORDS, **EXTRA_COLOUR_WORDS}
ALL_SHAPE_WORDS = {**SHAPE_WORDS, **EXTRA_SHAPE_WORDS}
ALL_BACKGROUND_WORDS = {**BACKGROUND_WORDS, **EXTRA_BACKGROUND_WORDS}
ALL_EMPTY_WORDS = {**EMPTY_WORDS, **EXTRA_EMPTY_WORDS}
ALL_COLOUR_RGB = {**COLOUR_RGB, **EXTRA_COLOUR_RGB}
ALL_BACKGROUND_RGB = {**BACKGROUND_RGB, **EXTRA_BACKGROUND_RGB}
QUERY_TEMPLATES = (
    "{np}{motion}{bg}",
    "a clip of {np}{motion}{bg}",
    "we see {np}{motion}{bg}",
    "there {be} {np}{motion}{bg}",
    "the moment when {np} {appear}{bg}",
    "{Motion}{np}{bg}",
)
DESCRIPTION_TEMPLATES = ("{np}{motion}{bg}", "{Bg}, {np}{motion}", "{np}{bg}{motion}")


def _pick(rng: np.random.Generator, options: tuple) -> Any:
    return options[int(rng.integers(len(options)))]


def noun_phrase(attrs: dict[str, Any], rng: np.random.Generator, count: int | None = None) -> str:
    """``two striped red circles``: the named attributes among count, colour, texture, shape.

    ``count`` (the true count) sets the grammatical number when the count itself is not named.
    """
    number = attrs.get("count", count if count is not None else 2)
    adjectives = [_pick(rng, ALL_COLOUR_WORDS[attrs["colour"]])] if "colour" in attrs else []
    if "texture" in attrs:
        texture = _pick(rng, TEXTURE_WORDS[attrs["texture"]])
        adjectives.insert(int(rng.integers(len(adjectives) + 1)), texture)  # either adjective order
    singular, plural = _pick(rng, ALL_SHAPE_WORDS[attrs.get("shape")])
    noun = singular if number == 1 else plural
    words = [*adjectives, noun]
    if "count" in attrs:
        words.insert(0, _pick(rng, COUNT_WORDS[attrs["count"]]))
    elif number == 1:
        words.insert(0, "an" if words[0][0] in "aeiou" else "a")
    elif rng.random() < 0.5:
        words.insert(0, "some")
    return " ".join(words)


def phrase_event(
    attrs: dict[str, Any],
    rng: np.random.Generator,
    background: str | None = None,
    count: int | None = None,
    style: str = "query",
) -> str:
    """A sentence naming exactly the attributes in ``attrs`` (and the background when given).

    ``style``: ``query`` (search-like templates) or ``description`` (what a clip shows).
    """
    np_ = noun_phrase(attrs, rng, count)
    number = attrs.get("count", count if count is not None else 2)
    motion = _pick(rng, MOTION_WORDS[attrs["motion"]]) if "motion" in attrs else ""
    bg = _pick(rng, ALL_BACKGROUND_WORDS[background]) if background else ""
    templates: tuple[str, ...] = QUERY_TEMPLATES if style == "query" else DESCRIPTION_TEMPLATES
    if not motion:
        templates = tuple(t for t in templates if "{Motion}" not in t) or templates
    else:
        templates = tuple(t for t in templates if "{appear}" not in t) or templates
    template = _pick(rng, templates)
    text = template.format(
        np=np_,
        motion=f" {motion}" if motion else "",
        Motion=f"{motion[:1].upper()}{motion[1:]}: " if motion else "",
        bg=f" {bg}" if bg else "",
        Bg=bg[:1].upper() + bg[1:] if bg else "",
        be="is" if number == 1 else "are",
        appear="appears" if number == 1 else "appear",
    )
    text = " ".join(text.split()).strip(" ,")
    return text[:1].upper() + text[1:] if style == "description" else text


def phrase_empty(background: str, rng: np.random.Generator) -> str:
    """What a clip without any event shows."""
    text = _pick(rng, ALL_EMPTY_WORDS[background])
    return text[:1].upper() + text[1:]


# ----------------------------------------------------------------------------- structure


@dataclass(frozen=True)
class Event:
    """A group of ``count`` identical objects."""

    count: int
    colour: str
    texture: str
    shape: str
    motion: str

    def attrs(self, names: tuple[str, ...] | list[str] = ATTRIBUTES) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names}

    def differs(self, other: Event) -> list[str]:
        return [a for a in ATTRIBUTES if getattr(self, a) != getattr(other, a)]


@dataclass(frozen=True)
class Segment:
    start: int
    length: int
    event: int  # index into the video's events

    @property
    def clips(self) -> range:
        return range(self.start, self.start + self.length)


@dataclass
class VideoSpec:
    name: str
    family: int
    background: str
    num_clips: int
    events: list[Event]
    segments: list[Segment]
    variant: dict[str, Any] | None = None  # how this family member differs from the family's first video
    seed: int = 0

    @property
    def vid(self) -> str:
        """QVHighlights video id ``{name}_{start}_{end}``."""
        return f"{self.name}_0.0_{self.num_clips * CLIP_LENGTH:.1f}"

    @property
    def duration(self) -> int:
        return int(self.num_clips * CLIP_LENGTH)

    def event_of_clip(self) -> np.ndarray:
        """(clips,) event index per clip, -1 where the background is empty."""
        out = np.full(self.num_clips, -1)
        for segment in self.segments:
            out[segment.start : segment.start + segment.length] = segment.event
        return out


def random_event(rng: np.random.Generator, values: dict[str, tuple[Any, ...]] = VALUES) -> Event:
    return Event(*(_pick(rng, values[a]) for a in ATTRIBUTES))


def vary(event: Event, rng: np.random.Generator, changes: int, values: dict[str, tuple[Any, ...]] = VALUES) -> Event:
    """A distractor: ``event`` with ``changes`` attributes set to other values."""
    names = list(rng.choice(ATTRIBUTES, size=changes, replace=False))
    new = {a: _pick(rng, tuple(v for v in values[a] if v != getattr(event, a))) for a in names}
    return replace(event, **new)


def sample_spec(
    rng: np.random.Generator,
    name: str,
    family: int,
    clips: tuple[int, int],
    events: tuple[int, int],
    segment_length: tuple[int, int],
    gap: tuple[int, int],
    distractor_share: float,
    vocabulary: str = "base",
) -> VideoSpec:
    """One video: events (mostly distractors of each other) laid out in segments over time."""
    values, backgrounds = VOCABULARIES[vocabulary]
    num_clips = int(rng.integers(clips[0], clips[1] + 1))
    wanted = int(rng.integers(events[0], events[1] + 1))
    chosen: list[Event] = [random_event(rng, values)]
    while len(chosen) < wanted:
        candidate = (
            vary(_pick(rng, tuple(chosen)), rng, int(rng.integers(1, 4)), values)
            if rng.random() < distractor_share
            else random_event(rng, values)
        )
        if candidate not in chosen:
            chosen.append(candidate)
    # each event once, a random share twice; no event twice in a row
    order = list(range(wanted)) + [int(e) for e in rng.choice(wanted, size=int(rng.integers(0, wanted + 1)))]
    rng.shuffle(order)
    order = [e for i, e in enumerate(order) if i == 0 or order[i - 1] != e]
    segments: list[Segment] = []
    t = int(rng.integers(0, gap[1] + 1))
    for e in order:
        length = int(rng.integers(segment_length[0], segment_length[1] + 1))
        if t + length > num_clips:
            length = num_clips - t
            if length < segment_length[0]:
                break
        segments.append(Segment(t, length, e))
        t += length + int(rng.integers(max(gap[0], 1), gap[1] + 1))
    used = sorted({s.event for s in segments})
    remap = {old: new for new, old in enumerate(used)}
    return VideoSpec(
        name=name,
        family=family,
        background=_pick(rng, backgrounds),
        num_clips=num_clips,
        events=[chosen[i] for i in used],
        segments=[replace(s, event=remap[s.event]) for s in segments],
    )


def family_member(base: VideoSpec, rng: np.random.Generator, name: str, vocabulary: str = "base") -> VideoSpec:
    """A near-duplicate: one attribute of one event (or the background) changed, everything else equal."""
    values, backgrounds = VOCABULARIES[vocabulary]
    if rng.random() < 0.15:
        background = _pick(rng, tuple(b for b in backgrounds if b != base.background))
        variant = {"what": "background", "from": base.background, "to": background}
        return replace(base, name=name, background=background, variant=variant)
    for _ in range(50):
        index = int(rng.integers(len(base.events)))
        attribute = str(_pick(rng, ATTRIBUTES))
        value = _pick(rng, tuple(v for v in values[attribute] if v != getattr(base.events[index], attribute)))
        changed = replace(base.events[index], **{attribute: value})
        if changed not in base.events:
            events = list(base.events)
            events[index] = changed
            old = getattr(base.events[index], attribute)
            variant = {"what": "event", "event": index, "attribute": attribute, "from": old, "to": value}
            return replace(base, name=name, events=events, variant=variant)
    raise RuntimeError("could not vary the family's base video")  # pragma: no cover - 50 tries never all collide


# ----------------------------------------------------------------------------- rendering


@dataclass
class RenderedVideo:
    frames: np.ndarray  # uint8 (clips, S, S, 3)
    visibility: np.ndarray  # (clips,) opacity of the event on screen, 0 where empty


def visibility_profile(length: int, rng: np.random.Generator) -> np.ndarray:
    """How clearly an event shows in each clip of its segment, in (0, 1]: a smooth bump.

    The event fades in, peaks somewhere inside the segment and fades out (a Gaussian bump
    between a floor and a peak, plus a little jitter), so neighbouring clips have similar
    visibility -- and saliency -- as annotators' scores of real videos do.
    """
    k = np.arange(length)
    centre = rng.uniform(0.25, 0.75) * (length - 1)
    width = rng.uniform(0.3, 0.6) * length
    floor, peak = rng.uniform(0.2, 0.4), rng.uniform(0.85, 1.0)
    bump = floor + (peak - floor) * np.exp(-(((k - centre) / width) ** 2))
    return np.clip(bump + rng.normal(0, 0.04, size=length), 0.15, 1.0)


@functools.lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    return ys, xs


def shape_masks(
    shape: str, size: int, cy: np.ndarray, cx: np.ndarray, radius: np.ndarray, angle: np.ndarray
) -> np.ndarray:
    """(n, size, size) boolean masks of one shape at n placements: ``revis.world.draw.shape_mask``, vectorised."""
    ys, xs = _grid(size)
    cy, cx, radius, angle = (np.asarray(a, dtype=np.float32)[:, None, None] for a in (cy, cx, radius, angle))
    dy, dx = ys - cy, xs - cx
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    if shape == "circle":
        return dx**2 + dy**2 <= radius**2
    if shape == "square":
        half = radius * 0.82
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if shape == "triangle":
        inside = np.ones(u.shape, dtype=bool)
        for theta in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
            inside &= u * np.float32(np.cos(theta)) + v * np.float32(np.sin(theta)) <= radius * 0.5
        return inside
    if shape == "cross":
        arm = radius * 0.32
        return ((np.abs(u) <= arm) & (np.abs(v) <= radius)) | ((np.abs(v) <= arm) & (np.abs(u) <= radius))
    if shape == "ring":
        d2 = dx**2 + dy**2
        return (d2 <= radius**2) & (d2 >= (radius * 0.55) ** 2)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= radius * 1.05
    if shape == "bar":
        return (np.abs(u) <= radius) & (np.abs(v) <= radius * 0.38)
    raise ValueError(f"unknown shape {shape!r}")


GHOSTS = ((2.2, 0.15), (1.1, 0.35))  # trail behind a moving object: (offset in radii, opacity)


def render(spec: VideoSpec, image_size: int, noise: float, rng: np.random.Generator) -> RenderedVideo:
    """Frames of a video; deterministic in ``rng``."""
    s = image_size
    scale = s / 32.0
    base_bg = smooth_background(rng, s, s, low=0, high=40, noise=0.0).astype(np.float32)
    base_bg = base_bg - base_bg.mean() + np.array(ALL_BACKGROUND_RGB[spec.background], dtype=np.float32)
    frames = np.repeat(base_bg[None], spec.num_clips, axis=0)
    frames += rng.normal(0, 4.0, size=(spec.num_clips, 1, 1, 3)).astype(np.float32)  # light flicker
    visibility = np.zeros(spec.num_clips)
    for segment in spec.segments:
        event = spec.events[segment.event]
        radii = list(rng.uniform(3.6, 5.0, size=event.count) * scale)
        centres = None
        while centres is None:  # three small objects fit within a few tries
            centres = place_without_overlap(rng, radii, s, s, gap=1.5 * scale)
        angles = rng.uniform(-0.3, 0.3, size=event.count)
        paints = []
        for tint in rng.normal(0, 10, size=(event.count, 3)):
            colour = np.clip(np.array(ALL_COLOUR_RGB[event.colour], dtype=np.float32) + tint, 0, 255)
            pixels = np.broadcast_to(colour, (s, s, 3)).copy()
            if event.texture == "striped":
                lines = stripe_pattern(s, s, period=max(2, round(4 * scale)), phase=int(rng.integers(0, 4)))
                pixels[lines] = pixels[lines] * 0.3 + 255 * 0.7
            paints.append(pixels)
        direction = np.array(DIRECTIONS[event.motion])
        profile = visibility_profile(segment.length, rng)
        visibility[segment.start : segment.start + segment.length] = profile
        # every (clip, object, layer) placement of the segment at once; layers: trail ghosts, then the object
        layers = [*(GHOSTS if event.motion != "still" else ()), (0.0, 1.0)]
        k = np.arange(segment.length)[:, None, None]
        offset = 1.4 * scale * (k - (segment.length - 1) / 2)
        radius = np.array(radii)[None, :, None] * (0.65 + 0.35 * profile[:, None, None])  # faint = smaller too
        back = np.array([g for g, _ in layers])[None, None, :] * radius
        cy = np.array([c[0] for c in centres])[None, :, None] + direction[0] * (offset - back)
        cx = np.array([c[1] for c in centres])[None, :, None] + direction[1] * (offset - back)
        shape_of = (segment.length, event.count, len(layers))
        masks = shape_masks(
            event.shape,
            s,
            cy.ravel(),
            cx.ravel(),
            np.broadcast_to(radius, shape_of).ravel(),
            np.broadcast_to(angles[None, :, None], shape_of).ravel(),
        ).reshape(*shape_of, s, s)
        for k_index, clip in enumerate(segment.clips):
            frame = frames[clip]
            for j, pixels in enumerate(paints):
                for layer, (_, fade) in enumerate(layers):
                    weight = (profile[k_index] * fade * masks[k_index, j, layer])[..., None]
                    frame += weight * (pixels - frame)
    frames += rng.normal(0, noise, size=frames.shape).astype(np.float32)
    return RenderedVideo(frames=frames.clip(0, 255).astype(np.uint8), visibility=visibility)


# ----------------------------------------------------------------------------- queries and labels


def distinguishing_attributes(spec: VideoSpec, target: int, rng: np.random.Generator, extra: float) -> list[str]:
    """Attributes that tell event ``target`` from every other event of the video, plus extras."""
    event = spec.events[target]
    named: list[str] = []
    for other_index in rng.permutation(len(spec.events)):
        other = spec.events[int(other_index)]
        if other_index == target or any(getattr(other, a) != getattr(event, a) for a in named):
            continue
        named.append(str(_pick(rng, tuple(event.differs(other)))))
    for attribute in ATTRIBUTES:
        if attribute not in named and rng.random() < extra:
            named.append(attribute)
    if len(named) < 2:
        named += list(rng.choice([a for a in ATTRIBUTES if a not in named], size=2 - len(named), replace=False))
    return [a for a in ATTRIBUTES if a in named]


def annotate(
    spec: VideoSpec,
    target: int,
    visibility: np.ndarray,
    rng: np.random.Generator,
    annotators: int,
    bias_sd: float,
    noise_sd: float,
) -> tuple[list[list[float]], list[int], list[list[int]]]:
    """relevant_windows (s), relevant_clip_ids, saliency_scores for the segments of event ``target``."""
    segments = sorted((s for s in spec.segments if s.event == target), key=lambda s: s.start)
    windows = [[float(s.start * CLIP_LENGTH), float((s.start + s.length) * CLIP_LENGTH)] for s in segments]
    clips = [c for s in segments for c in s.clips]
    bias = rng.normal(0, bias_sd, size=annotators)
    quality = 4.0 * visibility[clips]
    raw = quality[:, None] + bias[None, :] + rng.normal(0, noise_sd, size=(len(clips), annotators))
    scores = np.clip(np.rint(raw), 0, 4).astype(int)
    return windows, clips, scores.tolist()


@dataclass
class WorldConfig:
    seed: int = 0
    n_families: int = 60
    family_size: tuple[int, int] = (1, 3)
    clips: tuple[int, int] = (20, 40)
    image_size: int = 32
    events: tuple[int, int] = (2, 4)
    segment_length: tuple[int, int] = (3, 8)
    gap: tuple[int, int] = (1, 3)
    distractor_share: float = 0.75
    queries_per_video: int = 2
    extra_attribute: float = 0.25
    background_in_query: float = 0.3
    annotators: int = 3
    annotator_bias: float = 0.4
    annotator_noise: float = 0.6
    noise: float = 5.0
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    vocabulary: str = "base"  # base | broad (more colours, shapes and backgrounds: EXTRA_VALUES, EXTRA_BACKGROUNDS)


@dataclass
class VideoWorld:
    """The generated world in memory; reads like ``revis.datasets.qvhighlights.QvhCorpus``.

    ``queries`` per split, ``videos`` (frames per vid), ``meta`` (what ``world.json`` holds).
    """

    queries: dict[str, list[QvhQuery]]
    videos: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    clip_length: float = CLIP_LENGTH

    @property
    def splits(self) -> list[str]:
        return [s for s in ("train", "val", "test") if s in self.queries]

    def split(self, name: str) -> list[QvhQuery]:
        return self.queries[name]

    def labelled(self, name: str) -> list[QvhQuery]:
        return self.queries[name]

    def video_ids(self, name: str) -> list[str]:
        return list(dict.fromkeys(q.vid for q in self.queries[name]))

    def frames(self, vid: str, image_size: int | None = None, indices: Sequence[int] | None = None) -> np.ndarray:
        frames = self.videos[vid]
        if image_size is not None and frames.shape[1] != image_size:
            raise ValueError(f"the world's frames are {frames.shape[1]} px, not {image_size}")
        return frames if indices is None else frames[clamp_indices(indices, len(frames), vid)]

    def world(self) -> dict[str, Any]:
        return self.meta


def _split_of_families(n_families: int, fractions: tuple[float, float, float], rng: np.random.Generator) -> list[str]:
    order = rng.permutation(n_families)
    n_train = round(fractions[0] * n_families)
    n_val = round(fractions[1] * n_families)
    split = ["test"] * n_families
    for rank, family in enumerate(order):
        split[int(family)] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return split


def generate_video_world(config: WorldConfig) -> VideoWorld:
    """The whole video world, deterministic in ``config.seed``."""
    rng = np.random.default_rng(config.seed)
    family_split = _split_of_families(config.n_families, config.split_fractions, rng)
    specs: list[VideoSpec] = []
    for family in range(config.n_families):
        base = sample_spec(
            rng,
            f"mw{len(specs):04d}",
            family,
            config.clips,
            config.events,
            config.segment_length,
            config.gap,
            config.distractor_share,
            config.vocabulary,
        )
        specs.append(base)
        for _ in range(int(rng.integers(config.family_size[0], config.family_size[1] + 1)) - 1):
            specs.append(family_member(base, rng, f"mw{len(specs):04d}", config.vocabulary))
    splits: dict[str, list[QvhQuery]] = {"train": [], "val": [], "test": []}
    frames: dict[str, np.ndarray] = {}  # vid -> frames
    videos: dict[str, Any] = {}
    queries_meta: dict[str, Any] = {}
    qid = 0
    for index, spec in enumerate(specs):
        spec.seed = int(config.seed * 100_003 + index)
        video_rng = np.random.default_rng(spec.seed)
        rendered = render(spec, config.image_size, config.noise, video_rng)
        frames[spec.vid] = rendered.frames
        split = family_split[spec.family]
        clip_events = spec.event_of_clip()
        texts: dict[int, str] = {}
        descriptions = []
        for c, e in enumerate(clip_events):
            segment_key = next((s.start for s in spec.segments if c in s.clips), -1 - c)
            if segment_key not in texts:  # one wording per segment (and per empty clip)
                texts[segment_key] = (
                    phrase_event(spec.events[e].attrs(), video_rng, spec.background, style="description")
                    if e >= 0
                    else phrase_empty(spec.background, video_rng)
                )
            descriptions.append(texts[segment_key])
        seen: list[int] = []
        for s in sorted(spec.segments, key=lambda s: s.start):
            if not seen or seen[-1] != s.event:
                seen.append(s.event)
        where = ALL_BACKGROUND_WORDS[spec.background][0]
        caption = (
            phrase_empty(spec.background, video_rng)
            if not seen
            else f"{where[:1].upper()}{where[1:]}: "
            + ", then ".join(phrase_event(spec.events[e].attrs(), video_rng, style="description").lower() for e in seen)
        )
        videos[spec.vid] = {
            "name": spec.name,
            "split": split,
            "family": spec.family,
            "variant": spec.variant,
            "background": spec.background,
            "caption": caption,
            "events": [asdict(e) for e in spec.events],
            "segments": [[s.start, s.length, s.event] for s in spec.segments],
            "clips": [
                {"description": d, "event": int(e) if e >= 0 else None, "visibility": round(float(v), 4)}
                for d, e, v in zip(descriptions, clip_events, rendered.visibility)
            ],
        }
        targets = video_rng.permutation(len(spec.events))[: config.queries_per_video]
        for target in sorted(int(t) for t in targets):
            named = distinguishing_attributes(spec, target, video_rng, config.extra_attribute)
            background = spec.background if video_rng.random() < config.background_in_query else None
            event = spec.events[target]
            text = phrase_event(event.attrs(named), video_rng, background, count=event.count)
            windows, clip_ids, scores = annotate(
                spec,
                target,
                rendered.visibility,
                video_rng,
                config.annotators,
                config.annotator_bias,
                config.annotator_noise,
            )
            splits[split].append(
                QvhQuery(
                    qid=qid,
                    query=text,
                    vid=spec.vid,
                    duration=spec.duration,
                    relevant_windows=tuple((s, e) for s, e in windows),
                    relevant_clip_ids=tuple(clip_ids),
                    saliency_scores=tuple(tuple(r) for r in scores),
                )
            )
            queries_meta[str(qid)] = {"vid": spec.vid, "event": target, "named": named, "background": background}
            qid += 1
    meta = {
        "clip_length": CLIP_LENGTH,
        "image_size": config.image_size,
        "seed": config.seed,
        "attributes": {a: list(v) for a, v in VOCABULARIES[config.vocabulary][0].items()},
        "backgrounds": list(VOCABULARIES[config.vocabulary][1]),
        "videos": videos,
        "queries": queries_meta,
    }
    return VideoWorld(queries=splits, videos=frames, meta=meta)


def pretraining_world(seed: int, n_families: int, vocabulary: str) -> VideoWorld:
    """A world to pretrain an encoder on: every family in ``train``, the other settings ``WorldConfig``'s defaults."""
    return generate_video_world(
        WorldConfig(seed=seed, n_families=n_families, vocabulary=vocabulary, split_fractions=(1.0, 0.0, 0.0))
    )


def content_key(video: dict[str, Any], clip: int) -> str:
    """What a clip shows, independent of wording: ``background|count|colour|texture|shape|motion`` or ``background|empty``."""
    event = video["clips"][clip]["event"]
    if event is None:
        return f"{video['background']}|empty"
    attrs = video["events"][event]
    return "|".join([video["background"], *(str(attrs[a]) for a in ATTRIBUTES)])
