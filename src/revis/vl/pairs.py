"""Frame/text pairs of a video corpus: what the encoder is pretrained and evaluated on.

- The mini world (a corpus with ``world.json``): every clip of every video of the split, with
  its description; ``key`` is the clip's content (background + event, any wording), so frames
  showing the same thing are positives of each other. With ``partial_texts = n`` each clip that
  shows an event gets ``n`` more pairs whose text names only a random subset of the event's
  attributes (1 to 4 of the five, the background with probability 0.3), worded like a search
  query (``phrase_event(style="query")``), as a caption names only some of what a photo shows.
  Such a text is a positive of every frame it fits: ``frame_slots`` / ``text_slots`` code what
  each frame shows and what each text requires (``UNNAMED`` where a text says nothing), and
  ``slot_targets`` turns them into the soft contrastive targets.
- Real QVHighlights (no per-clip descriptions): per labelled query, the clip the annotators
  rated highest, paired with the query; ``key`` is the qid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from revis.datasets.imageset import DataError
from revis.datasets.qvhighlights import VideoCorpus

UNNAMED = -2  # a text slot that names nothing (fits any value)
EMPTY = -1  # an event slot of a clip that shows no event
PARTIAL_BACKGROUND = 0.3  # share of partial texts that also name the background (the world's queries: 0.3)


@dataclass
class FrameTextPairs:
    frames: np.ndarray  # uint8 (N, H, W, 3)
    texts: list[str]  # (N,) what each frame shows
    keys: list[str]  # (N,) content id: equal keys are positives of each other
    vids: list[str]  # (N,) source video
    frame_slots: np.ndarray | None = None  # (N, 6) background + 5 attributes each frame shows (value indices)
    text_slots: np.ndarray | None = None  # (N, 6) what each pair's text requires (UNNAMED: nothing)

    def __len__(self) -> int:
        return len(self.texts)

    def texts_by_key(self) -> dict[str, str]:
        """One text per distinct content (its first wording), in order of first appearance."""
        out: dict[str, str] = {}
        for key, text in zip(self.keys, self.texts):
            out.setdefault(key, text)
        return out


def concat_pairs(parts: list[FrameTextPairs]) -> FrameTextPairs:
    """The pairs of several sources, in order (slot codes kept only when every source has them)."""
    frame_slots = [p.frame_slots for p in parts if p.frame_slots is not None]
    text_slots = [p.text_slots for p in parts if p.text_slots is not None]
    slotted = len(frame_slots) == len(text_slots) == len(parts)
    return FrameTextPairs(
        np.concatenate([p.frames for p in parts]),
        [t for p in parts for t in p.texts],
        [k for p in parts for k in p.keys],
        [v for p in parts for v in p.vids],
        np.concatenate(frame_slots) if slotted else None,
        np.concatenate(text_slots) if slotted else None,
    )


def slot_code(background: str, event: dict[str, Any] | None) -> np.ndarray:
    """(6,) value indices of background, count, colour, texture, shape, motion (EMPTY: no event).

    Indices into the broad vocabulary, which extends the base one (a base value keeps its index).
    """
    from revis.world.videos import ATTRIBUTES, BROAD_BACKGROUNDS, BROAD_VALUES

    attrs = [EMPTY] * len(ATTRIBUTES) if event is None else [BROAD_VALUES[a].index(event[a]) for a in ATTRIBUTES]
    return np.array([BROAD_BACKGROUNDS.index(background), *attrs], dtype=np.int64)


def fits(frame_slots: np.ndarray, text_slots: np.ndarray) -> np.ndarray:
    """(F, T) bool: text t names nothing that frame f does not show."""
    frame, text = frame_slots[:, None, :], text_slots[None, :, :]
    return ((text == UNNAMED) | (text == frame)).all(-1)


def _partial_text(
    video: dict[str, Any], event: dict[str, Any], code: np.ndarray, rng: np.random.Generator
) -> tuple[str, np.ndarray]:
    from revis.world.videos import ATTRIBUTES, phrase_event

    k = int(rng.integers(1, len(ATTRIBUTES)))
    named = {str(a) for a in rng.choice(ATTRIBUTES, size=k, replace=False)}
    background = video["background"] if rng.random() < PARTIAL_BACKGROUND else None
    text = phrase_event({a: event[a] for a in ATTRIBUTES if a in named}, rng, background, count=event["count"])
    required = np.full_like(code, UNNAMED)
    for i, attribute in enumerate(ATTRIBUTES, start=1):
        if attribute in named:
            required[i] = code[i]
    if background is not None:
        required[0] = code[0]
    return text, required


def frame_text_pairs(
    corpus: VideoCorpus, split: str, image_size: int | None = None, partial_texts: int = 0, seed: int = 0
) -> FrameTextPairs:
    """Pairs of ``split`` (see the module docstring for the two sources and ``partial_texts``)."""
    from revis.world.videos import content_key

    world = corpus.world()
    frames, texts, keys, vids = [], [], [], []
    frame_codes: list[np.ndarray] = []
    text_codes: list[np.ndarray] = []
    if world:
        rng = np.random.default_rng([seed, 29])
        for vid in corpus.video_ids(split):
            video = world["videos"][vid]
            clip_frames = corpus.frames(vid, image_size)
            for clip, info in enumerate(video["clips"]):
                event = None if info["event"] is None else video["events"][info["event"]]
                code = slot_code(video["background"], event)
                key = content_key(video, clip)
                extra = [] if event is None else [_partial_text(video, event, code, rng) for _ in range(partial_texts)]
                for text, required in [(info["description"], code), *extra]:
                    frames.append(clip_frames[clip])
                    texts.append(text)
                    keys.append(key)
                    vids.append(vid)
                    frame_codes.append(code)
                    text_codes.append(required)
    else:
        for query in corpus.labelled(split):
            best = int(np.argmax(query.saliency(corpus.clip_length).mean(1)))
            clip_frames = corpus.frames(query.vid, image_size)
            frames.append(clip_frames[min(best, len(clip_frames) - 1)])
            texts.append(query.query)
            keys.append(f"qid{query.qid}")
            vids.append(query.vid)
    if not frames:
        raise DataError(f"split {split!r} holds no frame/text pairs")
    slots = (np.stack(frame_codes), np.stack(text_codes)) if frame_codes else (None, None)
    return FrameTextPairs(np.stack(frames), texts, keys, vids, *slots)
