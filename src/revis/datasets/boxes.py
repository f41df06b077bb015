"""Checking annotation boxes against their image, as every detection reader must (VOC, COCO).

Real annotation releases contain boxes that overrun the image border by a few pixels; those are
clipped and counted. A box of non-positive size, a box entirely outside the image, or one that
overruns a border by more than its bound is an annotation error: ``BoxError`` names the file
and the object, so a bad file never trains silently.

The bound along an axis is ``max(max_overrun, max_overrun_fraction * side)`` pixels: a fixed
slack for small images plus a share of the side, so one setting fits a 96-px world frame and a
3072-px camera frame. ``COCO_MAX_OVERRUN_FRACTION`` (2 %) is the COCO readers' default: the LADA
release overruns the right border by up to 33 px of 3072 (1.1 %) and 26 px of 2048 (1.3 %), the
largest shares among its 34 overrunning boxes (``tests/datasets/test_lada_release.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MAX_OVERRUN = 8.0  # px of slack on every border, whatever the image size
COCO_MAX_OVERRUN_FRACTION = 0.02  # share of the side on top (covers the LADA release: at most 1.3 %)


class BoxError(ValueError):
    """An annotation box that cannot belong to its image."""


@dataclass
class BoxReport:
    """What a reader did to the boxes it read (reported next to the data, never silent)."""

    boxes: int = 0
    clipped: int = 0
    clipped_examples: list[str] = field(default_factory=list)

    def add(self, other: BoxReport) -> None:
        self.boxes += other.boxes
        self.clipped += other.clipped
        self.clipped_examples += other.clipped_examples[: max(0, 5 - len(self.clipped_examples))]

    def to_dict(self) -> dict[str, object]:
        return {"boxes": self.boxes, "clipped": self.clipped, "clipped_examples": self.clipped_examples}


def check_box(
    box: tuple[float, float, float, float],
    width: float,
    height: float,
    *,
    where: str,
    max_overrun: float = DEFAULT_MAX_OVERRUN,
    max_overrun_fraction: float = 0.0,
    report: BoxReport | None = None,
) -> tuple[float, float, float, float]:
    """The box ``(x0, y0, x1, y1)`` in pixels, clipped to ``[0, width] x [0, height]``.

    ``where`` names the file and object for the error message (e.g. ``"Annotations/0001.xml,
    object 2 (dog)"``). Raises ``BoxError`` for a box of non-positive size, entirely outside the
    image, or overrunning a border by more than ``max(max_overrun, max_overrun_fraction * side)``
    pixels (module doc).
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if width <= 0 or height <= 0:
        raise BoxError(f"{where}: image size {width} x {height} is not positive")
    if not (x1 > x0 and y1 > y0):
        raise BoxError(f"{where}: box {box} has non-positive size (need x0 < x1 and y0 < y1)")
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise BoxError(f"{where}: box {box} lies entirely outside the {width:g} x {height:g} image")
    for overrun, side in ((max(-x0, x1 - width, 0.0), width), (max(-y0, y1 - height, 0.0), height)):
        bound = max(max_overrun, max_overrun_fraction * side)
        if overrun > bound:
            raise BoxError(
                f"{where}: box {box} overruns the {width:g} x {height:g} image by {overrun:g} px "
                f"(more than {bound:g} px: an annotation error, not a border effect)"
            )
    clipped = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
    if report is not None:
        report.boxes += 1
        if clipped != (x0, y0, x1, y1):
            report.clipped += 1
            if len(report.clipped_examples) < 5:
                report.clipped_examples.append(f"{where}: {box} -> {clipped}")
    return clipped
