"""What the recognizer listens for in grammar mode, from the loaded intents (built or curated)."""

from __future__ import annotations

from typing import Protocol

from voiceskill.recognizer import everyday_vocabulary
from voiceskill.text import SPOKEN_CONTRACTIONS


class KnowsWords(Protocol):
    def vocabulary(self) -> frozenset[str]: ...
    def phrasings(self) -> tuple[str, ...]: ...


def grammar_vocabulary(router: KnowsWords) -> set[str]:
    """The router's words plus its example phrasings (whole likely word sequences: noisy speech
    lands on them), plus everyday words and phrases
    (:func:`voiceskill.recognizer.everyday_vocabulary`) so off-topic speech has somewhere to land,
    plus contractions as said ("doesn't": the router reads it as "does not")."""
    return set(router.vocabulary()) | set(router.phrasings()) | everyday_vocabulary() | SPOKEN_CONTRACTIONS
