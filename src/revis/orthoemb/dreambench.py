"""DreamBench (DreamBooth's dataset, google/dreambooth) as the paper evaluates on it: 30 subjects x 25 prompts.

Layout read (the repository's ``dataset/`` folder, or that folder itself)::

    dataset/
      backpack/00.jpg 01.jpg ...          one folder per subject, 4-6 images
      ...
      prompts_and_classes.txt             "Classes" (subject_name,class lines), then the object
                                          prompts and the live-subject prompts as
                                          'a {0} {1} in the jungle'.format(unique_token, class_token)

A plain ``prompts.txt`` (one template per line with ``{0}`` = the subject token and ``{1}`` =
the class) and a ``classes.csv`` (subject_name,class) are read instead when present. Live
subjects (cats and dogs) take the live prompts, every other subject the object prompts.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
LIVE_CLASSES = {"cat", "dog"}
_QUOTED = re.compile(r"""['"](.*?\{0\}.*?)['"]\s*\.format""")


@dataclass
class DreamBenchSubject:
    name: str
    cls: str
    images: list[Path]
    prompts: list[str] = field(default_factory=list)  # templates with {0} (subject token) and {1} (class)

    @property
    def live(self) -> bool:
        return self.cls in LIVE_CLASSES

    def prompt_texts(self, token: str) -> list[str]:
        """The prompts with ``token`` for the subject (e.g. "S*" or "sks") and the class word."""
        return [p.format(token, self.cls) for p in self.prompts]


def _root(path: Path) -> Path:
    return path / "dataset" if (path / "dataset").is_dir() and not (path / "prompts_and_classes.txt").exists() else path


def parse_prompts_and_classes(text: str) -> tuple[dict[str, str], list[str], list[str]]:
    """(subject -> class, object prompts, live prompts) from DreamBooth's ``prompts_and_classes.txt``."""
    classes: dict[str, str] = {}
    objects: list[str] = []
    live: list[str] = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        low = line.lower()
        if not line:
            continue
        if low.startswith("classes"):
            section = "classes"
            continue
        if "live subject prompts" in low:
            section = "live"
            continue
        if "object prompts" in low:
            section = "objects"
            continue
        if low.startswith("prompts") or low.startswith("prompt_list") or line in ("]", "["):
            continue
        match = _QUOTED.search(line)
        if match and section in ("objects", "live"):
            (objects if section == "objects" else live).append(match.group(1))
        elif section == "classes" and "," in line and not low.startswith("subject_name"):
            name, cls = (s.strip() for s in line.split(",", 1))
            classes[name] = cls
    return classes, objects, live


def load_dreambench(path: str | Path) -> list[DreamBenchSubject]:
    """Subjects with their images and prompts, sorted by name; raises when the layout is not found."""
    root = _root(Path(path))
    if not root.is_dir():
        raise FileNotFoundError(f"DreamBench folder {root} does not exist")
    spec = root / "prompts_and_classes.txt"
    if spec.is_file():
        classes, objects, live = parse_prompts_and_classes(spec.read_text())
    elif (root / "prompts.txt").is_file():
        objects = [line.strip() for line in (root / "prompts.txt").read_text().splitlines() if line.strip()]
        live = objects
        classes = {}
        if (root / "classes.csv").is_file():
            with open(root / "classes.csv") as f:
                classes = {r[0].strip(): r[1].strip() for r in csv.reader(f) if len(r) >= 2 and r[0] != "subject_name"}
    else:
        raise FileNotFoundError(f"{root} has neither prompts_and_classes.txt nor prompts.txt")
    if not objects:
        raise ValueError(f"no prompt templates found under {root}")
    subjects = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            continue
        cls = classes.get(folder.name, re.sub(r"\d+$", "", folder.name).replace("_", " "))
        subject = DreamBenchSubject(folder.name, cls, images)
        subject.prompts = list(live if subject.live and live else objects)
        subjects.append(subject)
    if not subjects:
        raise FileNotFoundError(f"no subject folders with images under {root}")
    return subjects
