"""The shared development sets (../shared/eval) and how a reply is judged against them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO, SHARED

EVAL = SHARED / "eval"
OWN = REPO / "tests" / "data"


def _rows(path: Path) -> list[list[str]]:
    return [line.rstrip("\n").split("\t") for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def topics() -> dict[str, re.Pattern[str]]:
    return {row[0]: re.compile(row[1], re.IGNORECASE) for row in _rows(EVAL / "topics.tsv")
            if row[0] != "fallback"}


def questions(path: Path = EVAL / "questions.tsv") -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in _rows(path)]


@dataclass(frozen=True)
class Conversation:
    turns: tuple[str, ...]
    expect: tuple[str, ...]


def conversations(path: Path = EVAL / "conversations.tsv") -> list[Conversation]:
    out = []
    for row in _rows(path):
        turns = tuple(t.strip() for t in row[0].split("||"))
        expect = tuple(t.strip() for t in row[1].split("||"))
        assert len(turns) == len(expect), row
        out.append(Conversation(turns, expect))
    return out


def states_a_fact(answer: str) -> bool:
    """Whether an answer says anything a topic regex recognizes as an article fact."""
    return any(rx.search(answer) for rx in topics().values())


def judge(topic: str, intent: str | None, answer: str) -> bool:
    """A reply to a question labelled ``topic`` is right (topics.tsv semantics)."""
    if topic == "fallback":
        return intent is None and not states_a_fact(answer)
    return bool(topics()[topic].search(answer))
