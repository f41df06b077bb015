"""The smoke world: fixed-camera landscape frames with wildfire smoke, written like the LADA release.

Each *camera event* (a FIgLib-style folder ``<date>_FIRE_<site>-<dir>-mobo-c``) is one fixed
camera: a sky gradient, a ridge line (the horizon band) and textured terrain, in the palette
of its domain, plus frames at offsets from the ignition time (``<unix>_<+/-offset>.jpg``).
Frames before ignition show no smoke (negatives, ``negative_fraction`` of each event); after
it, one plume (sometimes two) of 2-4 overlapping translucent parts that grows with the
offset. Look-alike clouds -- the same part shapes, whiter -- drift in the sky.

- ``placement="horizon"`` (the main world): a plume rises from the ridge at a spot fixed per
  event, so smoke sits in location-dependent parts of each frame; clouds stay high in the sky.
  Position carries signal (the premise of LADA's CoordConv).
- ``placement="uniform"`` (the control): plume spots anywhere in the frame; clouds stay high in
  the sky as in the main world, so the two worlds differ in where smoke is and nothing else.
  (Until 2026-12-05 the control also scattered the clouds over the frame: two changes at once, and
  a look-alike anywhere made the control's target domain nearly undetectable -- teacher-student
  pseudo-label recall 0.11-0.15 at AP50 0.10-0.12, against 0.56-0.60 and 0.48-0.53 with the
  clouds in the sky; README, lada.)

Domains: *source* (few cameras, one palette, clear air, a high horizon, all frames one size,
like HPWREN's 2048 x 1536) and *target* (many more cameras, shifted colours, haze, a lower
horizon, mixed frame sizes like FIgLib's 2048 x 1536 / 3072 x 2048 / 1280 x 960 / 1600 x 1200
scaled by 1/16). Labels: one *fragment* box per plume part and one *merged* box per plume;
as real merged labels do, a merged box whose plume touches the right border may overrun it
(counted in ``truth``). The overruns copy the release's: all 34 overrunning merged boxes of
the LADA files run past the *right* border, by 0.05-1.3 % of the frame width (1-33 px), and
none of its fragment boxes overrun; here a right-touching merged box overruns with
probability ``overrun`` by a share of the width drawn from that range (at least 1 px). Sizes are relative to the frame width: a merged plume is
~10-20 % of the width (LADA's real median is 110 px of 2048, ~5 %; the mini world trains at
96 px, so objects are larger).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from revis.atomic import atomic_directory
from revis.datasets.lada import LabeledImage, Policy, dump_release_json, release_document, release_file

Box = tuple[float, float, float, float]
Placement = Literal["horizon", "uniform"]
# where the annotators' images lived: every file_name in the written files starts with this
FOREIGN_ROOT = "/home/labeler/research/data/mnt/open_dataset/HPWREN-FIgLib-Data"
IMAGE_FOLDER = "images/HPWREN-FIgLib-Data"  # local image root inside the written world
SITES = ("rm", "bh", "sp", "lp", "mg", "pi", "wc", "om", "sm", "hp", "ml", "bl", "lo", "tp", "mw", "so", "cp", "bm")


@dataclass(frozen=True)
class DomainStyle:
    sky_top: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]
    terrain: tuple[float, float, float]
    smoke: tuple[float, float, float]
    haze: tuple[float, float]  # strength range (0: clear air)
    haze_colour: tuple[float, float, float]
    horizon: tuple[float, float]  # ridge height as a fraction of the frame height
    sizes: tuple[tuple[int, int], ...]  # (width, height) of the cameras
    size_weights: tuple[float, ...]


SOURCE = DomainStyle(
    sky_top=(0.30, 0.50, 0.85),
    sky_horizon=(0.72, 0.82, 0.93),
    terrain=(0.30, 0.42, 0.20),
    smoke=(0.84, 0.81, 0.78),
    haze=(0.0, 0.08),
    haze_colour=(0.85, 0.88, 0.92),
    horizon=(0.36, 0.46),
    sizes=((128, 96),),
    size_weights=(1.0,),
)
TARGET = DomainStyle(
    sky_top=(0.42, 0.50, 0.70),
    sky_horizon=(0.84, 0.82, 0.78),
    terrain=(0.44, 0.40, 0.24),
    smoke=(0.80, 0.80, 0.83),
    haze=(0.08, 0.28),
    haze_colour=(0.88, 0.85, 0.80),
    horizon=(0.50, 0.64),
    sizes=((128, 96), (192, 128), (80, 60), (100, 75)),
    size_weights=(0.45, 0.35, 0.1, 0.1),
)
CLOUD = (0.95, 0.95, 0.97)
# the release's right-border overruns as a share of the frame width (1 px of 2048 .. 26 px of 2048)
RELEASE_OVERRUN_SHARE = (0.0005, 0.013)


@dataclass(frozen=True)
class SmokeWorldConfig:
    source_cameras: int = 4
    source_frames: int = 60  # per source camera
    target_cameras: int = 30  # cameras of the target train pool (labeled splits + unlabeled)
    target_frames: int = 40
    test_cameras: int = 10  # held-out target cameras (new scenes): the second test reading, ``test_heldout``
    test_frames: int = 16
    seen_test_frames: int = 4  # per pool camera: the test split's frames (the release tests on its pool cameras)
    source_test_frames: int = 6  # per source camera: held-out source frames (``source_test``, the source gate)
    negative_fraction: float = 0.4
    parts: tuple[int, int] = (2, 4)  # plume parts (fragment boxes per plume)
    second_plume: float = 0.15  # probability that an event has two plumes
    clouds: float = 0.8  # mean look-alike clouds per frame
    overrun: float = 0.4  # probability that a merged box touching the right border overruns it
    labeled_fractions: tuple[float, ...] = (0.005, 0.01, 0.03)


@dataclass
class SmokeFrame:
    camera: str  # the event folder
    file: str  # <unix>_<offset>.jpg
    domain: str
    offset: int  # seconds from ignition (negative: before, no smoke)
    image: np.ndarray  # uint8 (H, W, 3)
    fragments: list[list[Box]]  # per plume, one box per part (clipped to the frame)
    merged: list[Box]  # one box per plume (may overrun the border by a few pixels)

    @property
    def relative(self) -> str:
        return f"{self.camera}/{self.file}"

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass
class SmokeWorld:
    frames: list[SmokeFrame]
    splits: dict[str, list[int]]  # release split key (see revis.datasets.lada.RELEASE_STEMS) -> frame indices
    placement: Placement
    truth: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> list[SmokeFrame]:
        return [self.frames[i] for i in self.splits[name]]


# ---------------------------------------------------------------------------------------------
# drawing


def _value_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1], (H, W): bilinear upsampling of a coarse random grid."""
    coarse = rng.random((cells + 1, cells + 1)).astype(np.float32)
    image = Image.fromarray((coarse * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32) / 255.0


def _lerp(a: tuple[float, ...], b: tuple[float, ...], t: np.ndarray) -> np.ndarray:
    a_, b_ = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return a_ + (b_ - a_) * t[..., None]


@dataclass
class _Camera:
    folder: str
    domain: str
    style: DomainStyle
    width: int
    height: int
    background: np.ndarray  # float32 (H, W, 3), no haze
    ridge: np.ndarray  # (W,) ridge y per column
    haze: float
    ignition: int  # unix time
    spots: list[tuple[float, float]]  # plume base points (x, y) per plume


def _ridge(rng: np.random.Generator, width: int, height: int, level: float) -> np.ndarray:
    xs = np.arange(width, dtype=np.float32) / width
    y = np.full(width, level, dtype=np.float32)
    for freq, amp in ((1.0, 0.035), (2.3, 0.02), (5.7, 0.008)):
        y += rng.uniform(0.5, 1.0) * amp * np.sin(2 * np.pi * (freq * xs + rng.random()))
    return y * height


def _camera(
    rng: np.random.Generator, folder: str, domain: str, style: DomainStyle, placement: Placement, second: float
) -> _Camera:
    width, height = style.sizes[rng.choice(len(style.sizes), p=np.asarray(style.size_weights))]
    jitter = rng.uniform(-0.06, 0.06, size=3)
    sky_top = tuple(np.clip(np.asarray(style.sky_top) + jitter, 0, 1))
    sky_horizon = tuple(np.clip(np.asarray(style.sky_horizon) + jitter * 0.5, 0, 1))
    terrain = np.clip(np.asarray(style.terrain) + rng.uniform(-0.06, 0.06, size=3), 0, 1)
    ridge = _ridge(rng, width, height, rng.uniform(*style.horizon))
    ys = np.arange(height, dtype=np.float32)[:, None]
    sky_t = np.clip(ys / np.maximum(ridge[None, :], 1.0), 0, 1) ** 1.5
    image = _lerp(sky_top, sky_horizon, sky_t)
    below = ys >= ridge[None, :]
    depth = np.clip((ys - ridge[None, :]) / height, 0, 1)
    texture = 0.6 * _value_noise(rng, height, width, 6) + 0.4 * _value_noise(rng, height, width, 18)
    ground = terrain[None, None, :] * (0.75 + 0.5 * texture[..., None]) * (1.0 - 0.45 * depth[..., None])
    ground = ground + 0.08 * (1 - np.clip(depth[..., None] * 6, 0, 1))  # lighter, hazier far slopes
    image = np.where(below[..., None], ground, image).astype(np.float32)
    n_plumes = 2 if rng.random() < second else 1
    spots = []
    for _ in range(n_plumes):
        if placement == "horizon":
            x = rng.uniform(0.02, 0.98) * width
            y = float(ridge[min(width - 1, int(x))]) + rng.uniform(0.0, 0.05) * height
        else:
            x, y = rng.uniform(0.04, 0.96) * width, rng.uniform(0.2, 0.97) * height
        spots.append((x, y))
    date = dt.date(2016, 1, 1) + dt.timedelta(days=int(rng.integers(0, 6 * 365)))
    ignition = int(dt.datetime(date.year, date.month, date.day, 10, tzinfo=dt.UTC).timestamp())
    ignition += int(rng.integers(0, 6 * 3600))
    return _Camera(
        folder=folder.format(date=date.strftime("%Y%m%d")),
        domain=domain,
        style=style,
        width=width,
        height=height,
        background=image,
        ridge=ridge,
        haze=float(rng.uniform(*style.haze)),
        ignition=ignition,
        spots=spots,
    )


def _parts(rng: np.random.Generator, base: tuple[float, float], width: int, scale: float, count: int) -> list[tuple]:
    """Ellipses (cx, cy, rx, ry, alpha) rising from ``base`` and drifting with the wind."""
    wind = rng.uniform(-0.6, 0.6)
    rx = scale * 0.065 * width * rng.uniform(0.85, 1.15)
    ry = rx * rng.uniform(0.55, 0.75)
    cx, cy = base[0], base[1] - ry * 0.6
    parts = []
    for _ in range(count):
        parts.append((cx, cy, rx, ry, rng.uniform(0.65, 0.9)))
        grow = rng.uniform(1.12, 1.35)
        cy -= ry * rng.uniform(0.95, 1.3) + ry * (grow - 1)
        cx += wind * ry + rng.uniform(-0.25, 0.25) * rx
        rx, ry = rx * grow, ry * grow * rng.uniform(0.9, 1.05)
    return parts


def _composite(image: np.ndarray, parts: list[tuple], colour: tuple[float, ...], rng: np.random.Generator) -> None:
    height, width = image.shape[:2]
    colour_ = np.asarray(colour, dtype=np.float32)
    for cx, cy, rx, ry, alpha in parts:
        y0, y1 = max(0, int(cy - ry) - 1), min(height, int(cy + ry) + 2)
        x0, x1 = max(0, int(cx - rx) - 1), min(width, int(cx + rx) + 2)
        if y0 >= y1 or x0 >= x1:
            continue
        ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
        xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
        d2 = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2
        a = alpha * np.clip(1.0 - d2, 0.0, 1.0) ** 0.6
        a *= 0.85 + 0.3 * rng.random(a.shape, dtype=np.float32)  # wispy texture
        image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1 - a[..., None]) + colour_ * a[..., None]


def _part_box(part: tuple, width: int, height: int) -> Box | None:
    cx, cy, rx, ry, _ = part
    x0, y0, x1, y1 = max(0.0, cx - rx), max(0.0, cy - ry), min(float(width), cx + rx), min(float(height), cy + ry)
    return (x0, y0, x1, y1) if x1 - x0 >= 1.5 and y1 - y0 >= 1.5 else None


def _frame(
    rng: np.random.Generator, camera: _Camera, offset: int, config: SmokeWorldConfig
) -> tuple[np.ndarray, list[list[Box]], list[Box], int]:
    width, height = camera.width, camera.height
    image = camera.background * rng.uniform(0.92, 1.08) + rng.uniform(-0.02, 0.02, size=3).astype(np.float32)
    image = image.astype(np.float32)
    for _ in range(rng.poisson(config.clouds)):  # look-alikes: the same parts, whiter, high in the sky (both worlds)
        top = max(0.06, float(camera.ridge.min()) / height - 0.2)
        base = (rng.uniform(0, 1) * width, rng.uniform(0.12, top + 0.06) * height)
        count = int(rng.integers(config.parts[0], config.parts[1] + 1))
        _composite(image, _parts(rng, base, width, rng.uniform(0.6, 1.0), count), CLOUD, rng)
    fragments: list[list[Box]] = []
    merged: list[Box] = []
    overruns = 0
    if offset > 0:
        growth = 0.55 + 0.45 * (offset / 2400) ** 0.6
        count = int(
            np.clip(round(config.parts[0] + (config.parts[1] - config.parts[0]) * offset / 2400), *config.parts)
        )
        for spot in camera.spots:
            jitter = (spot[0] + rng.normal(0, 0.01 * width), spot[1] + rng.normal(0, 0.005 * height))
            parts = _parts(rng, jitter, width, growth, count)
            _composite(image, parts, camera.style.smoke, rng)
            boxes = [b for b in (_part_box(p, width, height) for p in parts) if b is not None]
            if not boxes:
                continue
            fragments.append(boxes)
            union = [
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            ]
            if union[2] >= width - 0.5 and rng.random() < config.overrun:  # the annotator's box runs past the edge
                union[2] = width + max(1.0, round(rng.uniform(*RELEASE_OVERRUN_SHARE) * width))
                overruns += 1
            merged.append((union[0], union[1], union[2], union[3]))
    ys = np.arange(height, dtype=np.float32)[:, None, None]
    if camera.haze > 0:  # haze thickest along the horizon band
        band = np.exp(-np.abs(ys - camera.ridge.mean()) / (0.25 * height))
        strength = camera.haze * (0.55 + 0.45 * band)
        image = image * (1 - strength) + np.asarray(camera.style.haze_colour, dtype=np.float32) * strength
    image = image + rng.normal(0, 0.012, size=image.shape).astype(np.float32)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8), fragments, merged, overruns


def _offsets(rng: np.random.Generator, n: int, negative_fraction: float) -> list[int]:
    """FIgLib-style offsets (60 s grid, -2400..+2400): about ``negative_fraction`` before ignition."""
    negatives = round(n * negative_fraction)
    # distinct offsets (a file name holds its offset): the 60 s grid while it suffices, else whole seconds
    before = rng.choice(np.arange(-2400, 0, 60 if negatives <= 40 else 1), size=negatives, replace=False)
    after = rng.choice(np.arange(60, 2401, 60) if n - negatives <= 40 else np.arange(1, 2401), n - negatives, False)
    offsets = [int(o) for o in np.concatenate([before, after])]
    rng.shuffle(offsets)
    return offsets


def generate_smoke_world(seed: int, config: SmokeWorldConfig, placement: Placement = "horizon") -> SmokeWorld:
    """Source cameras, target train cameras, held-out target test cameras; release splits (module doc).

    As in the release, the test split (``test``) holds other frames of the target pool's cameras
    (144 of the 146 camera folders of the release's 1 % split also appear in its test file), so a
    camera's smoke location, fixed per camera, is learnable from its labeled frames -- the prior
    CoordConv exploits. ``test_heldout`` (new cameras) is the second reading, without that prior;
    ``source_test`` (other frames of the source cameras) scores the source detector.
    """
    rng = np.random.default_rng(seed)
    frames: list[SmokeFrame] = []
    splits: dict[str, list[int]] = {"source": [], "source_test": [], "target_pool": [], "test": [], "test_heldout": []}
    overruns = 0
    # (split of the first n frames, split of the rest, domain, style, cameras, frames, further frames)
    groups = [
        ("source", "source_test", "source", SOURCE, config.source_cameras, config.source_frames,
         config.source_test_frames),
        ("target_pool", "test", "target", TARGET, config.target_cameras, config.target_frames,
         config.seen_test_frames),
        ("test_heldout", "test_heldout", "target", TARGET, config.test_cameras, config.test_frames, 0),
    ]  # fmt: skip
    used: set[str] = set()
    for split, rest, domain, style, n_cameras, n_frames, n_more in groups:
        for _ in range(n_cameras):
            while True:  # a unique event folder name
                name = "{date}_FIRE_" + f"{SITES[rng.integers(len(SITES))]}-{'nesw'[rng.integers(4)]}-mobo-c"
                camera = _camera(rng, name, domain, style, placement, config.second_plume)
                if camera.folder not in used:
                    used.add(camera.folder)
                    break
            for k, offset in enumerate(_offsets(rng, n_frames + n_more, config.negative_fraction)):
                image, fragments, merged, over = _frame(rng, camera, offset, config)
                overruns += over
                splits[split if k < n_frames else rest].append(len(frames))
                frames.append(
                    SmokeFrame(
                        camera=camera.folder,
                        file=f"{camera.ignition + offset}_{offset:+06d}.jpg",
                        domain=domain,
                        offset=offset,
                        image=image,
                        fragments=fragments,
                        merged=merged,
                    )
                )
    pool = splits["target_pool"]
    for fraction in config.labeled_fractions:  # not nested, like the release's 0.5 / 1 / 3 % files
        n = max(1, round(fraction * len(pool)))
        splits[f"target_{fraction * 100:g}"] = sorted(int(i) for i in rng.choice(pool, size=n, replace=False))
    truth = {
        "placement": placement,
        "frames": len(frames),
        "merged_boxes": {k: sum(len(frames[i].merged) for i in v) for k, v in splits.items()},
        "fragment_boxes": {k: sum(len(p) for i in v for p in frames[i].fragments) for k, v in splits.items()},
        "negatives": {k: sum(1 for i in v if not frames[i].merged) for k, v in splits.items()},
        "images": {k: len(v) for k, v in splits.items()},
        "overrunning_merged_boxes": {
            k: sum(
                1
                for i in v
                for b in frames[i].merged
                if b[0] < 0 or b[1] < 0 or b[2] > frames[i].width or b[3] > frames[i].height
            )
            for k, v in splits.items()
        },
        "overruns_drawn": overruns,
        "cameras": {
            "source": config.source_cameras,
            "target": config.target_cameras,
            "test": config.target_cameras,  # the test split's frames come from the pool's cameras
            "test_heldout": config.test_cameras,
        },
    }
    return SmokeWorld(frames=frames, splits=splits, placement=placement, truth=truth)


# ---------------------------------------------------------------------------------------------
# writing


def _labeled(frames: list[SmokeFrame], policy: str) -> list[LabeledImage]:
    return [
        LabeledImage(
            file_name=f"{FOREIGN_ROOT}/{f.relative}",
            width=f.width,
            height=f.height,
            boxes=f.merged if policy == "merged" else [b for plume in f.fragments for b in plume],
        )
        for f in frames
    ]


def write_smoke_world(root: str | os.PathLike, world: SmokeWorld, jpeg_quality: int = 92) -> None:
    """Write the world atomically in the release layout (module doc of ``revis.datasets.lada``).

    ``labels/``: every release file (merged and ``_original``), plus ``target_unlabeled.json``
    (the target train pool, images only -- what a user of real data has) and, world-only,
    ``hidden/target_unlabeled{,_original}.json`` (the pool's ground truth, read only for
    pseudo-label diagnostics) and ``world.json`` (the generator's truth). The test split's
    ``_original`` file has no counterpart in the release (it lets each policy be scored on
    its own test labels).
    """
    with atomic_directory(root) as tmp:
        for frame in world.frames:
            target = tmp / IMAGE_FOLDER / frame.camera / frame.file
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame.image).save(target, quality=jpeg_quality)
        labels = tmp / "labels"
        labels.mkdir()
        for split, indices in world.splits.items():
            if split == "target_pool":
                continue
            frames = [world.frames[i] for i in indices]
            for policy in ("merged", "fragment"):
                document = release_document(_labeled(frames, policy), policy)
                release_file(labels, split, policy).write_text(dump_release_json(document))
        pool = world.split("target_pool")
        unlabeled = release_document(
            [LabeledImage(i.file_name, i.width, i.height, []) for i in _labeled(pool, "merged")], "merged"
        )
        (labels / "target_unlabeled.json").write_text(dump_release_json(unlabeled))
        (tmp / "hidden").mkdir()
        policies: tuple[Policy, ...] = ("merged", "fragment")
        for policy in policies:
            release_file(tmp / "hidden", "target_unlabeled", policy).write_text(
                dump_release_json(release_document(_labeled(pool, policy), policy))
            )
        (tmp / "world.json").write_text(json.dumps(world.truth, indent=2, sort_keys=True))


@dataclass(frozen=True)
class SmokeWorldFolder:
    """A written smoke world (what later stages read): release labels, images, hidden truth."""

    root: Path

    @property
    def labels(self) -> Path:
        return self.root / "labels"

    @property
    def images(self) -> Path:
        return self.root / IMAGE_FOLDER

    @property
    def hidden(self) -> Path:
        return self.root / "hidden"

    @property
    def unlabeled(self) -> Path:
        return self.labels / "target_unlabeled.json"

    def truth(self) -> dict[str, Any]:
        return json.loads((self.root / "world.json").read_text())


def read_smoke_world(root: str | os.PathLike) -> SmokeWorldFolder:
    """The folder of a written world; an incomplete folder is an error naming what is missing."""
    folder = SmokeWorldFolder(Path(root))
    for needed in (folder.labels, folder.images, folder.hidden, folder.root / "world.json"):
        if not needed.exists():
            raise FileNotFoundError(f"{needed} is missing: {root} is not a complete smoke world (rerun lada-ingest)")
    return folder
