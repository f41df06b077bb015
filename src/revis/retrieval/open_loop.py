"""MERLIN's loop on real videos with open components: a local CLIP, an answerer over frames, an LLM questioner.

MERLIN (``run_merlin.py``) ranks a gallery by cosine of a query embedding with video
embeddings (Google's multimodal embedding), asks GPT-4o a question about the anchor's GPT-4V
caption, answers it with a VQA model on the *target* video's frames (one per second)
aggregated by an LLM, embeds the answer, folds it into the query by SLERP and re-ranks. Here:

- ``ClipGallery``: a local CLIP-style ``DualEncoder`` (``revis.vl``, ``kind: clip``: a folder
  saved by ``CLIPModel.save_pretrained``) embeds queries, answers and frames; a video is the
  mean of its frame embeddings.
- ``FrameAnswerer``: zero-shot VQA over frames. The question's slot (count, colour, motion,
  place, ...) is read from its words; each frame picks the slot's phrase its CLIP embedding is
  closest to; the per-frame answers are aggregated into one sentence (values seen in any frame,
  most frequent first -- MERLIN's aggregation rule), or by the chat backend when one is given
  (MERLIN's LLM aggregation), falling back to the rule when it fails.
- The questioner is any ``revis.retrieval.questioners`` questioner -- ``LLMQuestioner`` over the
  HTTP or local transformers backend as in MERLIN.
- Candidate captions (what the questioner reads about the anchor): given ones (MERLIN's GPT-4V
  captions) where present, else the answerer's description of the video's frames.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from revis.retrieval.embedding import CachedTextEmbedder, pool_frames, vl_text_fn
from revis.retrieval.interactive import LoopResult, run_rounds
from revis.retrieval.llm import ChatBackend, LLMError
from revis.retrieval.queries import Query
from revis.retrieval.questioners import Questioner
from revis.retrieval.slerp import Convention
from revis.retrieval.user import Answer, slot_of_question

# what a frame can show, per slot (open-domain wording for real videos such as MSR-VTT's)
VOCABULARY: dict[str, tuple[str, ...]] = {
    "count": ("nobody", "one person", "two people", "three people", "a small group of people", "a crowd"),
    "colour": ("red", "blue", "green", "yellow", "white", "black", "pink", "orange", "purple", "brown", "grey"),
    "texture": ("plain", "striped", "checked", "dotted", "shiny", "furry"),
    "shape": ("a person", "a car", "an animal", "food", "a ball", "a musical instrument", "a screen", "text"),
    "motion": ("standing still", "walking", "running", "dancing", "driving", "talking", "cooking", "playing"),
    "background": ("indoors", "a kitchen", "a stage", "a street", "a field", "a studio", "water", "a classroom"),
}
PROMPTS: dict[str, str] = {
    "count": "a video frame showing {}",
    "colour": "a video frame with something {}",
    "texture": "a video frame with something {}",
    "shape": "a video frame showing {}",
    "motion": "a video frame of someone {}",
    "background": "a video frame taken in {}",
}
DESCRIBED = ("background", "count", "shape", "motion", "colour")  # the slots of a frame description
AGGREGATE_PROMPT = (
    "You are answering a question about a video from answers given for each of its frames. "
    "If something appears in any frame, say it is in the video. Answer in one short sentence."
)


class ClipGallery:
    """Text and video embeddings of a local CLIP-style ``DualEncoder`` (unit rows, numpy)."""

    def __init__(self, encoder: Any, batch_size: int = 64) -> None:
        self.encoder, self.batch_size = encoder, batch_size

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.embed_texts(list(texts), self.batch_size).numpy()

    def frames(self, frames: np.ndarray) -> np.ndarray:
        return self.encoder.embed_images(frames, self.batch_size).numpy()

    def videos(self, frames_by_video: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([pool_frames(self.frames(f)) for f in frames_by_video])


@dataclass
class FrameAnswerer:
    gallery: ClipGallery
    backend: ChatBackend | None = None
    vocabulary: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(VOCABULARY))
    max_tokens: int = 48
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._phrases = {
            slot: (list(words), self.gallery.texts([PROMPTS[slot].format(w) for w in words]))
            for slot, words in self.vocabulary.items()
        }
        self._frame_z: dict[int, np.ndarray] = {}

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """The frames' CLIP embeddings (cached per frames array)."""
        key = id(frames)
        if key not in self._frame_z:
            self._frame_z[key] = self.gallery.frames(frames)
        return self._frame_z[key]

    def per_frame(self, frames: np.ndarray, slot: str) -> list[str]:
        """The slot's phrase closest to each frame (zero-shot VQA)."""
        return self.per_frame_embedded(self.embed(frames), slot)

    def per_frame_embedded(self, frame_z: np.ndarray, slot: str) -> list[str]:
        """:meth:`per_frame` from the frames' embeddings (unit rows)."""
        words, phrase_z = self._phrases[slot]
        return [words[int(i)] for i in np.argmax(frame_z @ phrase_z.T, axis=1)]

    def answer(self, question: str, frames: np.ndarray, slot: str | None = None) -> Answer:
        return self.answer_embedded(question, self.embed(frames), slot)

    def answer_embedded(self, question: str, frame_z: np.ndarray, slot: str | None = None) -> Answer:
        """The answer from the frames' embeddings: per-frame phrases, aggregated by the rule or the chat backend."""
        slot = slot or slot_of_question(question) or "shape"  # an open question: what the video shows
        seen = self.per_frame_embedded(frame_z, slot)
        values = [v for v, _ in Counter(seen).most_common(2)]
        text = self._rule_sentence(slot, values)
        if self.backend is not None:
            listed = "\n".join(f"frame {i + 1}: {v}" for i, v in enumerate(seen))
            messages = [
                {"role": "system", "content": AGGREGATE_PROMPT},
                {"role": "user", "content": f"Question: {question}\nAnswers per frame:\n{listed}\nAnswer:"},
            ]
            try:
                text = self.backend.chat(messages, 0.0, self.max_tokens).strip() or text
            except LLMError as exc:  # the rule's sentence stands in; the failure is kept
                self.errors.append(str(exc))
        return Answer(text, slot, values, list(seen))

    def describe(self, frames: np.ndarray) -> str:
        return self.describe_embedded(self.embed(frames))

    def describe_embedded(self, frame_z: np.ndarray) -> str:
        """A caption from the frames' embeddings: the most frequent phrase of each described slot."""
        parts = {slot: Counter(self.per_frame_embedded(frame_z, slot)).most_common(1)[0][0] for slot in DESCRIBED}
        return (
            f"In {parts['background']}: {parts['count']} with {parts['shape']}, "
            f"{parts['motion']}, mostly {parts['colour']}."
        )

    @staticmethod
    def _rule_sentence(slot: str, values: list[str]) -> str:
        joined = " and ".join(values)
        if slot == "background":
            return f"The video takes place in {joined}."
        if slot == "colour":
            return f"The main colours in the video are {joined}."
        if slot == "motion":
            return f"In the video someone is {joined}."
        return f"The video shows {joined}."


class FrameUser:
    """The user of the loop on real videos: ``FrameAnswerer`` over the frames of the video asked about."""

    def __init__(self, answerer: FrameAnswerer, frames: Mapping[str, np.ndarray]) -> None:
        self.answerer, self.frames = answerer, frames

    def answer(
        self,
        query: Query,
        question_text: str,
        slot: str | None,
        source: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> Answer:
        return self.answerer.answer(question_text, self.frames[source or query.vid], slot)


class EmbeddedFrameUser:
    """``FrameUser`` from the frames' CLIP embeddings (what ``merlin-features`` stores for a real benchmark)."""

    def __init__(self, answerer: FrameAnswerer, frame_z: Mapping[str, np.ndarray]) -> None:
        self.answerer, self.frame_z = answerer, frame_z

    def answer(
        self,
        query: Query,
        question_text: str,
        slot: str | None,
        source: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> Answer:
        return self.answerer.answer_embedded(question_text, self.frame_z[source or query.vid], slot)


def run_open_merlin(
    pairs: Sequence[tuple[str, str]],
    frames: Mapping[str, np.ndarray],
    gallery: ClipGallery,
    questioner: Questioner,
    answerer: FrameAnswerer,
    rounds: int = 5,
    alpha: float = 0.8,
    convention: Convention = "answer",
    k: int = 10,
    captions: Mapping[str, str] | None = None,
    sources: Sequence[str] | None = None,
) -> tuple[LoopResult, list[Query], list[str]]:
    """MERLIN on real videos: ``pairs`` = ``[(video_id, query text)]``, one query per gallery video.

    Returns the loop's ranks and dialogues, the queries and the candidate captions used.
    """
    vids = [vid for vid, _ in pairs]
    missing = [v for v in vids if v not in frames]
    if missing:
        raise ValueError(f"no frames for {len(missing)} gallery videos (e.g. {missing[:5]})")
    queries = [Query(i, vid, i, 0, (), text) for i, (vid, text) in enumerate(pairs)]
    gallery_z = gallery.videos([frames[v] for v in vids])
    query_z = gallery.texts([q.text for q in queries])
    given = captions or {}
    shown = [given.get(v) or answerer.describe(frames[v]) for v in vids]
    embedder = CachedTextEmbedder(vl_text_fn(gallery.encoder))
    result = run_rounds(
        queries,
        query_z,
        gallery_z,
        shown,
        questioner,
        FrameUser(answerer, frames),
        embedder,
        rounds,
        alpha,
        convention,
        min(k, len(vids)),
        sources,
    )
    return result, queries, shown
