"""The decision step: from every pass's hypotheses of one question to what the coach does.

The recognizer hears a question in several passes (:mod:`voiceskill.passes`), each a transcript
with word confidences. :func:`decide` routes every hypothesis and chooses: answer one of them, or
say "Sorry, I didn't catch that". A wrong answer (health advice about the wrong thing) is worse
than a miss (the person asks again), so the rules lean towards not answering:

* a hypothesis counts only if the router is confident about it (``min_confidence``);
* the topic most passes are sure of wins (then the surest hypothesis);
* a topic is answered only when enough passes chose it (``min_agreeing``): the small model turns
  noise into different article words in differently cleaned copies of the audio, while what was
  really said tends to come through in more than one; when the passes are split (two of three),
  the router must also be surer of it (``split_min_confidence``);
* a question that enough passes heard naming another subject (``min_elsewhere``: "my foot",
  "stomach cramps", "I strained it") gets the off-topic reply, however sure a pass is of a topic:
  the grammar turns the rest of it into a question about cramps.

Off-topic questions still get the router's honest fallback when a pass heard them clearly.
Pure: the router is passed in, nothing is kept between questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from voiceskill.passes import Heard, hear_file
from voiceskill.recognizer import Recognizer
from voiceskill.router import Reply
from voiceskill.settings import DecisionConfig, RecognizerConfig
from voiceskill.text import UNK


class Routes(Protocol):
    """What the decision needs of the router (:class:`voiceskill.router.Router`)."""

    def route(self, text: str, confidences: Sequence[float] | None = None) -> Reply: ...

    def prime(self, utterances: Sequence[tuple[str, Sequence[float] | None]]) -> None: ...

    @property
    def fallback(self) -> str: ...


@dataclass(frozen=True)
class Decision:
    """What to do with a question: answer ``reply`` (from ``heard``), or, when ``caught`` is False,
    say that it was not caught (``heard`` is then the best guess, for logs and "I heard ...")."""

    heard: Heard | None
    reply: Reply | None
    caught: bool


def _route(hypotheses: Sequence[Heard], router: Routes) -> list[tuple[Heard, Reply]]:
    """Every hypothesis that heard a word, with the router's reply to it."""
    heard = [h for h in hypotheses if any(w != UNK for w in h.transcript.text.split())]
    router.prime([(h.transcript.text, h.transcript.confidences) for h in heard])
    return [(h, router.route(h.transcript.text, h.transcript.confidences)) for h in heard]


def _decide(routed: Sequence[tuple[Heard, Reply]], first: Heard | None, config: DecisionConfig,
            fallback: str) -> Decision:
    if not routed:
        return Decision(first, None, False)
    elsewhere = [(h, reply) for h, reply in routed if reply.elsewhere]
    if config.min_elsewhere and len(elsewhere) >= min(config.min_elsewhere, len(routed)):
        heard, reply = max(elsewhere, key=lambda pair: pair[1].confidence)
        return Decision(heard, replace(reply, intent=None, answer=fallback, topic_hint=None), True)
    support: dict[str, int] = {}
    for _, reply in routed:
        if reply.intent is not None and reply.confidence >= config.min_confidence:
            support[reply.intent] = support.get(reply.intent, 0) + 1
    heard, reply = max(routed, key=lambda pair: (support.get(pair[1].intent or "", 0), pair[1].confidence))
    if reply.intent is None or reply.intent not in support:
        # no pass is sure of a topic: the off-topic reply when one was heard clearly
        heard, reply = max(routed, key=lambda pair: pair[1].confidence)
        return Decision(heard, reply, reply.intent is None)
    agreed = support[reply.intent] >= min(config.min_agreeing, len(routed))
    split = any(other.intent != reply.intent for _, other in routed)
    return Decision(heard, reply, agreed and (not split or reply.confidence >= config.split_min_confidence))


def decide(hypotheses: Sequence[Heard], router: Routes, config: DecisionConfig = DecisionConfig()) -> Decision:
    """Answer, or not: see the module doc. Hypotheses that heard nothing are ignored."""
    return _decide(_route(hypotheses, router), hypotheses[0] if hypotheses else None, config, router.fallback)


def settled(hypotheses: Sequence[Heard], router: Routes, config: DecisionConfig, enough: float) -> bool:
    """Whether more passes could not change the answer: ``min_agreeing`` of the hypotheses so far
    chose one topic and the router is at least ``enough`` sure of it."""
    routed = _route(hypotheses, router)
    d = _decide(routed, hypotheses[0] if hypotheses else None, config, router.fallback)
    if not d.caught or d.reply is None or d.reply.intent is None or d.reply.confidence < enough:
        return False
    return sum(reply.intent == d.reply.intent for _, reply in routed) >= config.min_agreeing


def decide_file(pcm: bytes, passes: Sequence[tuple[str, Recognizer]], router: Routes, config: RecognizerConfig,
                decision: DecisionConfig = DecisionConfig(), keep_speaker: bool = False) -> Decision:
    """What ``voiceskill listen`` does with one file: hear it in the passes
    (:func:`voiceskill.passes.hear_file`: an independent file stops once the answer is
    :func:`settled` at ``config.more_passes_below``; a file of a session goes through every pass
    and keeps the speaker adaptation), then :func:`decide`."""
    heard = hear_file(pcm, passes, rate_hz=config.rate_hz, chunk_ms=config.file_chunk_ms, keep_speaker=keep_speaker,
                      settled=lambda so_far: settled(so_far, router, decision, config.more_passes_below))
    return decide(heard, router, decision)
