"""Frame/text pairs of a video corpus: what the encoder is pretrained and evaluated on.

- The mini world (a corpus with ``world.json``): every clip of every video of the split, with
  its description; ``key`` is the clip's content (background + event, any wording), so frames
  showing the same thing are positives of each other.
- Real QVHighlights (no per-clip descriptions): per labelled query, the clip the annotators
  rated highest, paired with the query; ``key`` is the qid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from revis.datasets.imageset import DataError
from revis.datasets.qvhighlights import VideoCorpus


@dataclass
class FrameTextPairs:
    frames: np.ndarray  # uint8 (N, H, W, 3)
    texts: list[str]  # (N,) what each frame shows
    keys: list[str]  # (N,) content id: equal keys are positives of each other
    vids: list[str]  # (N,) source video

    def __len__(self) -> int:
        return len(self.texts)

    def texts_by_key(self) -> dict[str, str]:
        """One text per distinct content (its first wording), in order of first appearance."""
        out: dict[str, str] = {}
        for key, text in zip(self.keys, self.texts):
            out.setdefault(key, text)
        return out


def frame_text_pairs(corpus: VideoCorpus, split: str, image_size: int | None = None) -> FrameTextPairs:
    """Pairs of ``split`` (see the module docstring for the two sources)."""
    from revis.world.videos import content_key

    world = corpus.world()
    frames, texts, keys, vids = [], [], [], []
    if world:
        for vid in corpus.video_ids(split):
            video = world["videos"][vid]
            clip_frames = corpus.frames(vid, image_size)
            for clip, info in enumerate(video["clips"]):
                frames.append(clip_frames[clip])
                texts.append(info["description"])
                keys.append(content_key(video, clip))
                vids.append(vid)
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
    return FrameTextPairs(np.stack(frames), texts, keys, vids)
