"""The decision step: from every pass's hypotheses of one question to what the coach does.

The recognizer hears a question in several passes (:mod:`voiceskill.passes`), each a transcript
with word confidences. :func:`decide` routes every hypothesis and chooses: answer one of them, or
say "Sorry, I didn't catch that". A wrong answer (health advice about the wrong thing) is worse
than a miss (the person asks again), so the rules lean towards not answering:

* a hypothesis counts only if the router is confident about it (``RouterConfig.min_confidence``);
* when confident hypotheses name *different* article topics, nothing is answered: the passes
  heard different questions, so at least one of them is wrong and we cannot tell which;
* in noisy audio (few words heard with confidence) the router must be surer still
  (``noisy_min_confidence``);
* passes that agree add to each other's evidence (``agreement_bonus``).

Off-topic questions still get the router's honest fallback when a pass heard them clearly.
Pure: the router is passed in, nothing is kept between questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from voiceskill.passes import Heard, hear_file
from voiceskill.recognizer import Recognizer, RecognizerConfig, Transcript
from voiceskill.text import UNK


class Routes(Protocol):
    """What the decision needs of the router."""

    def route(self, text: str, confidences: Sequence[float] | None = None) -> RouterReply: ...


class RouterReply(Protocol):
    intent: str | None
    answer: str
    confidence: float


@dataclass(frozen=True)
class DecisionConfig:
    """How sure the coach must be before it answers a spoken question.

    min_confidence: a hypothesis routed below this router confidence does not count (0..1).
    noisy_min_confidence: the router confidence needed when the question was heard poorly
        (the mean word confidence of the chosen hypothesis is below ``noisy_word_confidence``).
    noisy_word_confidence: mean word confidence (0..1) below which a hypothesis is "heard poorly".
    agreement_bonus: added to the router confidence for each other pass that chose the same topic.
    veto_conflicts: when confident passes disagree about the topic, say "didn't catch that".
    """

    min_confidence: float = 0.5
    noisy_min_confidence: float = 0.5
    noisy_word_confidence: float = 0.0
    agreement_bonus: float = 0.0
    veto_conflicts: bool = False

    def __post_init__(self) -> None:
        for name in ("min_confidence", "noisy_min_confidence", "noisy_word_confidence", "agreement_bonus"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")


@dataclass(frozen=True)
class Decision:
    """What to do with a question: answer ``reply`` (from ``heard``), or, when ``caught`` is False,
    say that it was not caught (``heard`` is then the best guess, for logs and "I heard ...")."""

    heard: Heard | None
    reply: RouterReply | None
    caught: bool


def mean_confidence(t: Transcript) -> float:
    """Mean word confidence of a transcript, [unk] counting as 0 (1.0 for typed text)."""
    if not t.words:
        return 1.0 if t.text.strip() else 0.0
    return sum(0.0 if w.text == UNK else w.conf for w in t.words) / len(t.words)


def decide(hypotheses: Sequence[Heard], router: Routes, config: DecisionConfig = DecisionConfig()) -> Decision:
    """Answer, or not: see the module doc. Hypotheses that heard nothing are ignored."""
    routed = [(h, router.route(h.transcript.text, h.transcript.confidences))
              for h in hypotheses if any(w != UNK for w in h.transcript.text.split())]
    if not routed:
        return Decision(hypotheses[0] if hypotheses else None, None, False)
    topics: dict[str, int] = {}
    for _, reply in routed:
        if reply.intent is not None and reply.confidence >= config.min_confidence:
            topics[reply.intent] = topics.get(reply.intent, 0) + 1

    def strength(pair: tuple[Heard, RouterReply]) -> float:
        _, reply = pair
        support = topics.get(reply.intent, 1) - 1 if reply.intent is not None else 0
        return reply.confidence + config.agreement_bonus * support

    heard, reply = max(routed, key=strength)
    if reply.intent is None:
        # the surest pass found no topic: the off-topic reply, unless another pass is sure of one
        return Decision(heard, reply, True)
    if config.veto_conflicts and len(topics) > 1:
        return Decision(heard, reply, False)
    needed = (config.noisy_min_confidence if mean_confidence(heard.transcript) < config.noisy_word_confidence
              else config.min_confidence)
    if strength((heard, reply)) < needed:
        return Decision(heard, reply, False)
    return Decision(heard, reply, True)


def decide_file(pcm: bytes, passes: Sequence[tuple[str, Recognizer]], router: Routes, config: RecognizerConfig,
                decision: DecisionConfig = DecisionConfig(), keep_speaker: bool = False) -> Decision:
    """What ``voiceskill listen`` does with one file: hear it in the passes
    (:func:`voiceskill.passes.hear_file`; an independent file stops at the first pass the router is
    sure of, ``config.more_passes_below``; a file of a session goes through every pass and keeps
    the speaker adaptation), then :func:`decide`."""

    def confidence(t: Transcript) -> float:
        return router.route(t.text, t.confidences).confidence

    heard = hear_file(pcm, passes, rate_hz=config.rate_hz, chunk_ms=config.file_chunk_ms,
                      confidence=confidence, enough=config.more_passes_below, keep_speaker=keep_speaker)
    return decide(heard, router, decision)
