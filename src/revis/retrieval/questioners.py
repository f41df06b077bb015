"""Questioners behind one interface: ``ask(dialogue, candidates) -> Question | None``.

``candidates`` are the captions of the current top-k videos, best first; ``candidates[0]`` is
MERLIN's *anchor* (the top-1 candidate, which may not be the target). ``None`` means the
questioner has nothing left to ask (the round changes nothing).

- ``RuleQuestioner``: reads the anchor caption and asks about the first slot (count, colour,
  texture, shape, motion, then background) that neither the query nor an earlier question
  covers, naming what the anchor shows; never a yes/no question, never a slot twice.
- ``EntropyQuestioner``: the uncovered slot whose values are most disputed among the top-k
  candidates (entropy of the value distribution over the candidates' events that agree with
  what the user said so far).
- ``LLMQuestioner``: MERLIN's prompt structure (``merlin/questioner.py``): a system prompt (the
  anchor may not be the video the user has in mind; one non-yes/no question at a time about
  attributes such as number, colour, shape), a first user turn with the query and the anchor's
  caption, then per round the answer and the caption of the re-ranked top-1 ("Keep asking").
  The query is included in the first turn (the system prompt mentions it, the public code's
  user turn does not); the re-ranked anchor is used each round (the public code passes the
  initial top-k's caption again).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from revis.retrieval.llm import ChatBackend
from revis.retrieval.slots import SLOTS, consistent, parse_caption, parse_phrase

QUESTIONS = {
    "count": "How many objects are there in the video you have in mind?",
    "colour": "What colour are the objects in your video?",
    "texture": "What pattern or texture do the objects in your video have?",
    "shape": "What shape are the objects in your video?",
    "motion": "How are the objects in your video moving?",
    "background": "Where does your video take place?",
}
YES_NO_STARTS = ("is ", "are ", "do ", "does ", "did ", "can ", "could ", "was ", "were ", "has ", "have ", "will ")

SYSTEM_PROMPT = (
    "You are given the caption of a video (the anchor video) and the query used to retrieve it. "
    "The anchor may not be the exact video I am looking for. Your role is to ask questions about "
    "the video I have in mind to get more information about it. You can only ask one question at a time. "
    "Don't ask questions that are answered with yes or no. Ask concisely. "
    "Focus on attributes like the number of objects, colour, shape, pattern, motion and place."
)


@dataclass
class Question:
    text: str
    slot: str | None = None  # known for the structured questioners; parsed from the text for the LLM


@dataclass
class Turn:
    anchor: str  # the anchor caption the question was asked about
    question: Question
    answer: str | None


@dataclass
class Dialogue:
    query: str
    turns: list[Turn] = field(default_factory=list)

    def asked(self) -> set[str]:
        return {t.question.slot for t in self.turns if t.question.slot}

    def known(self) -> dict[str, Any]:
        """Slot values the user has stated: the query, then every answer (later answers win)."""
        values = parse_phrase(self.query)
        for turn in self.turns:
            if turn.answer:
                values.update(parse_phrase(turn.answer.split(" and also ")[0]))
        return values

    def covered(self) -> set[str]:
        return set(parse_phrase(self.query)) | self.asked()


class Questioner(Protocol):
    name: str

    def ask(self, dialogue: Dialogue, candidates: list[str]) -> Question | None: ...


def _anchor_event(caption: str, known: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    background, events = parse_caption(caption)
    agreeing = [e for e in events if consistent(e, known)]
    return background, (agreeing or events or [{}])[0]


def _describe(slot: str, value: Any) -> str:
    if slot == "count":
        return f"{value} object{'s' if value != 1 else ''}"
    if slot == "background":
        return f"a {value} scene"
    if slot == "motion":
        return "still objects" if value == "still" else f"objects moving {value}"
    return f"{value} objects"


class RuleQuestioner:
    name = "rule"

    def __init__(self, order: tuple[str, ...] = SLOTS) -> None:
        self.order = order

    def ask(self, dialogue: Dialogue, candidates: list[str]) -> Question | None:
        covered = dialogue.covered()
        background, event = _anchor_event(candidates[0], dialogue.known()) if candidates else (None, {})
        for slot in self.order:
            if slot in covered:
                continue
            value = background if slot == "background" else event.get(slot)
            lead = f"The top result shows {_describe(slot, value)}. " if value is not None else ""
            return Question(lead + QUESTIONS[slot], slot)
        return None


class EntropyQuestioner:
    name = "entropy"

    def __init__(self, order: tuple[str, ...] = SLOTS) -> None:
        self.order = order

    def distribution(self, slot: str, candidates: list[str], known: dict[str, Any]) -> dict[Any, float]:
        """Weight of each value of ``slot`` over the candidates (each candidate weighs 1), in order of appearance."""
        mass: defaultdict[Any, float] = defaultdict(float)
        for caption in candidates:
            background, events = parse_caption(caption)
            if slot == "background":
                if background is not None:
                    mass[background] += 1.0
                continue
            values = [e[slot] for e in events if slot in e and consistent(e, known)] or [
                e[slot] for e in events if slot in e
            ]
            for value in values:
                mass[value] += 1.0 / len(values)
        return mass

    def ask(self, dialogue: Dialogue, candidates: list[str]) -> Question | None:
        covered, known = dialogue.covered(), dialogue.known()
        best, best_entropy = None, -1.0
        for slot in self.order:
            if slot in covered:
                continue
            mass = self.distribution(slot, candidates, known)
            total = sum(mass.values())
            entropy = -sum(m / total * math.log(m / total) for m in mass.values() if m > 0) if total else 0.0
            if entropy > best_entropy + 1e-12:
                best, best_entropy = slot, entropy
        if best is None:
            return None
        heaviest = sorted(self.distribution(best, candidates, known).items(), key=lambda kv: kv[1], reverse=True)
        shown = [str(v) for v, _ in heaviest[:3]]  # Counter.most_common(3): the same, stable on ties
        lead = f"The top results differ in {best} ({', '.join(shown)}). " if len(shown) > 1 else ""
        return Question(lead + QUESTIONS[best], best)


class LLMQuestioner:
    name = "llm"

    def __init__(
        self, backend: ChatBackend, temperature: float = 0.2, later_temperature: float = 0.7, max_tokens: int = 64
    ):
        self.backend = backend
        self.temperature, self.later_temperature, self.max_tokens = temperature, later_temperature, max_tokens

    @staticmethod
    def messages(dialogue: Dialogue, anchor: str) -> list[dict[str, str]]:
        """MERLIN's conversation: system, first caption, then (question, answer + re-ranked caption) per turn."""
        first = dialogue.turns[0].anchor if dialogue.turns else anchor
        out = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": (
                    f"Query: {dialogue.query}\n"
                    "This is the caption of the retrieved video. Read the caption and ask a question to gain more "
                    "information that helps find the exact video.\n"
                    f"Caption of the video: {first}\n\nQuestion:"
                ),
            },
        ]
        for index, turn in enumerate(dialogue.turns):
            reranked = dialogue.turns[index + 1].anchor if index + 1 < len(dialogue.turns) else anchor
            out.append({"role": "assistant", "content": turn.question.text})
            out.append(
                {
                    "role": "user",
                    "content": (
                        f"answer: {turn.answer or 'I cannot tell.'}\n"
                        "Based on your answer, here's the caption of the re-ranked video.\n"
                        f"caption: {reranked}\nKeep asking.\nQuestion:"
                    ),
                }
            )
        return out

    def ask(self, dialogue: Dialogue, candidates: list[str]) -> Question | None:
        temperature = self.temperature if not dialogue.turns else self.later_temperature
        text = self.backend.chat(self.messages(dialogue, candidates[0]), temperature, self.max_tokens)
        return Question(text.strip() or "What else can you tell me about the video?", None)
