"""The shared development sets (../shared/eval) and how a reply is judged against them."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from conftest import REPO, SHARED

EVAL = SHARED / "eval"
OWN = REPO / "tests" / "data"

STYLE_SETS = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q")
"""Our blind style sets, ``OWN / f"styles-{x}.tsv"``; which ones are held out: README, "Development"."""


def style_sets() -> list[Path]:
    return [OWN / f"styles-{x}.tsv" for x in STYLE_SETS]


def _rows(path: Path) -> list[list[str]]:
    return [line.rstrip("\n").split("\t") for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


FALLBACK = "fallback"


def load_topics(path: Path = EVAL / "topics.tsv") -> dict[str, re.Pattern[str] | None]:
    """topic -> compiled answer regex (case-insensitive); ``None`` for the fallback topic."""
    return {row[0]: None if row[0] == FALLBACK else re.compile(row[1], re.IGNORECASE)
            for row in _rows(path)}


@lru_cache(maxsize=None)
def _shared_topics() -> dict[str, re.Pattern[str] | None]:
    return load_topics()


def topics() -> dict[str, re.Pattern[str]]:
    """The article topics' answer regexes (fallback left out)."""
    return {topic: rx for topic, rx in _shared_topics().items() if rx is not None}


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


def states_a_fact(answer: str, patterns: dict[str, re.Pattern[str] | None] | None = None) -> bool:
    """Whether an answer says anything a topic regex recognizes as an article fact."""
    return any(rx.search(answer) for rx in (patterns or _shared_topics()).values() if rx is not None)


def answer_ok(topic: str, intent: str | None, answer: str,
              patterns: dict[str, re.Pattern[str] | None]) -> bool:
    """Whether a reply is right for a question of ``topic``: the answer matches the topic's regex,
    or for off-topic questions no intent and no article fact (no topic regex matches)."""
    pattern = patterns[topic]
    if pattern is not None:
        return bool(pattern.search(answer))
    return intent is None and not states_a_fact(answer, patterns)


def judge(topic: str, intent: str | None, answer: str) -> bool:
    """A reply to a question labelled ``topic`` is right (topics.tsv semantics)."""
    return answer_ok(topic, intent, answer, _shared_topics())


T = TypeVar("T")


def with_settings(base: T, spec: str) -> T:
    """``base`` with the fields named in ``spec`` ("name=value,name=value") replaced; ValueError
    names a setting that is not there or a value of the wrong kind."""
    changes: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        name, _, value = item.partition("=")
        if not hasattr(base, name):
            raise ValueError(f"{type(base).__name__} has no setting {name!r}")
        kind = type(getattr(base, name))
        if kind is bool and value.lower() not in ("true", "false"):
            raise ValueError(f"{type(base).__name__}: {name} takes true or false, not {value!r}")
        changes[name] = value.lower() == "true" if kind is bool else kind(value)  # ValueError if not a kind
    return dataclasses.replace(base, **changes)


def tally(rows: list[tuple[str, str]], replies: list[tuple[str | None, str]],
          patterns: dict[str, re.Pattern[str] | None]) -> tuple[int, int, int, int, int]:
    """Judge each row's reply (intent, answer): (right, wrong, on-topic questions, off-topic
    questions answered with a fact, off-topic questions). Wrong = answered, not right."""
    right = wrong = off = n_on = n_off = 0
    for (topic, _), (intent, answer) in zip(rows, replies, strict=True):
        good = answer_ok(topic, intent, answer, patterns)
        if patterns[topic] is None:
            n_off += 1
            off += not good
        else:
            n_on += 1
            right += good
            wrong += (not good) and intent is not None
    return right, wrong, n_on, off, n_off


def rate(router: Any, rows: list[tuple[str, str]], patterns: dict[str, re.Pattern[str] | None]
         ) -> tuple[float, float, float]:
    """(right share, wrong share of on-topic questions, answered share of off-topic questions)
    of typed questions, each the first of its own dialog."""
    from voiceskill.dialog import Dialog

    replies = [Dialog(router).handle(question) for _, question in rows]
    right, wrong, n_on, off, n_off = tally(rows, [(r.intent, r.answer) for r in replies], patterns)
    return right / max(1, n_on), wrong / max(1, n_on), off / max(1, n_off)
