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

With ``learned`` (the default, for routers with example questions) a small learned model takes
the last word on answering: every article intent a pass chose or scored among its best two is a
candidate, described by how many passes chose it and put it first, how sure the router was of
it in each pass, how close each pass's words are in meaning to its examples, and the same of its
strongest rival (an intent saying other sentences); a logistic model of these gives the
probability that its answer is right, and the most probable candidate is answered at
``learned_min_confidence`` or above (the threshold fitted with the weights,
``voiceskill/data/decision.toml``, written by ``scripts/fit_decision.py``). Below it the rules'
off-topic reply stands, or the coach did not catch it. Meta commands stay with the rules, as do
questions that ``min_elsewhere`` passes heard naming another subject, and questions heard in fewer
than three passes (the model was fitted on three: an independent file whose later passes
:func:`settled` skipped, a one-pass set-up).
Pure: the router is passed in, nothing is kept between questions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from voiceskill.linear import Model, linear, models_toml, probability, read_models
from voiceskill.passes import Heard, hear_file
from voiceskill.recognizer import Recognizer
from voiceskill.router import Reply
from voiceskill.settings import DecisionConfig, RecognizerConfig
from voiceskill.text import UNK

if TYPE_CHECKING:
    import numpy as np


class Routes(Protocol):
    """What the decision needs of the router (:class:`voiceskill.router.Router`)."""

    def route(self, text: str, confidences: Sequence[float] | None = None) -> Reply: ...

    def prime(self, utterances: Sequence[tuple[str, Sequence[float] | None]]) -> None: ...

    @property
    def fallback(self) -> str: ...

    @property
    def topic_names(self) -> frozenset[str]: ...

    def confidence(self, score: float) -> float: ...

    def meaning(self, text: str, confidences: Sequence[float] | None = None) -> Mapping[str, float] | None: ...

    def answer(self, name: str) -> str: ...

    def shares_sentence(self, a: str, b: str) -> bool: ...


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


def _heard_elsewhere(routed: Sequence[tuple[Heard, Reply]], config: DecisionConfig) -> bool:
    """Whether ``min_elsewhere`` of the passes (all of them when fewer heard something) heard
    another subject: the question gets the off-topic reply."""
    return bool(config.min_elsewhere) and sum(r.elsewhere for _, r in routed) >= min(config.min_elsewhere, len(routed))


def _decide(routed: Sequence[tuple[Heard, Reply]], first: Heard | None, config: DecisionConfig,
            fallback: str) -> Decision:
    if not routed:
        return Decision(first, None, False)
    if _heard_elsewhere(routed, config):
        heard, reply = max(((h, r) for h, r in routed if r.elsewhere), key=lambda pair: pair[1].confidence)
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


FEATURES = ("bias", "votes", "tops", "in_top", "mean_conf", "max_conf", "vote_conf", "meaning", "meaning_lead",
            "meaning_first", "rival_conf", "rival_votes", "elsewhere")
"""Per candidate intent, counts as shares of three passes: a constant; the passes that chose it;
that scored it first; that scored it among their best three; the router's confidence its score
would give, averaged over the passes (0 where not among the best three) and at most; the summed
confidence of the passes that chose it; its similarity in meaning averaged over the passes, and
its lead over the closest other intent; the passes that put it first in meaning; the mean and
vote share of its strongest rival (an intent with no sentence in common); the passes that heard
another subject."""
PASSES = 3.0
"""Counts are shares of this many passes: the three the weights were fitted with."""


@dataclass(frozen=True)
class DecisionWeights:
    answer: Model
    min_confidence: float

    @classmethod
    def load(cls, path: Path) -> DecisionWeights:
        models, threshold = read_models(path, {"answer": FEATURES}, "decision weights")
        return cls(models["answer"], threshold)

    def to_toml(self) -> str:
        return models_toml("written by scripts/fit_decision.py: see voiceskill/decide.py", {"answer": self.answer},
                           self.min_confidence)


def default_weights_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("voiceskill") / "data" / "decision.toml"))


@lru_cache(maxsize=1)
def shipped_weights() -> DecisionWeights:
    return DecisionWeights.load(default_weights_path())


def candidates(routed: Sequence[tuple[Heard, Reply]], meanings: Sequence[Mapping[str, float]],
               router: Routes) -> tuple[list[str], np.ndarray]:
    """The article intents the passes chose or scored among their best two, and the
    :data:`FEATURES` of each (rows in that order)."""
    import numpy as np

    topics = router.topic_names
    names = sorted({reply.intent for _, reply in routed if reply.intent in topics}
                   | {name for _, reply in routed for name, _ in reply.scores[:2] if name in topics})
    if not names:
        return [], np.zeros((0, len(FEATURES)))
    scores = [dict(reply.scores) for _, reply in routed]
    firsts = [reply.scores[0][0] if reply.scores else None for _, reply in routed]
    closest = [max(m, key=lambda k: m[k]) if m else None for m in meanings]
    elsewhere = sum(reply.elsewhere for _, reply in routed) / PASSES
    own = {}
    for c in names:
        conf = [router.confidence(s[c]) if c in s else 0.0 for s in scores]
        sims = [m.get(c, 0.0) for m in meanings if m]
        leads = [m.get(c, 0.0) - max((v for k, v in m.items() if k != c), default=0.0) for m in meanings if m]
        own[c] = (sum(reply.intent == c for _, reply in routed) / PASSES, sum(f == c for f in firsts) / PASSES,
                  sum(c in s for s in scores) / PASSES, sum(conf) / len(conf) if conf else 0.0, max(conf, default=0.0),
                  sum(reply.confidence for _, reply in routed if reply.intent == c) / PASSES,
                  sum(sims) / len(sims) if sims else 0.0, sum(leads) / len(leads) if leads else 0.0,
                  sum(k == c for k in closest) / PASSES)
    rows = []
    for c in names:
        rivals = [own[o] for o in names if o != c and not router.shares_sentence(o, c)]
        votes, tops, in_top, mean_conf, max_conf, vote_conf, sim, lead, first = own[c]
        rows.append([1.0, votes, tops, in_top, mean_conf, max_conf, vote_conf, sim, lead, first,
                     max((r[3] for r in rivals), default=0.0), max((r[0] for r in rivals), default=0.0), elsewhere])
    return names, np.array(rows, np.float64)


def meanings_of(routed: Sequence[tuple[Heard, Reply]], router: Routes) -> list[Mapping[str, float]] | None:
    """Each routed hypothesis's closeness in meaning to every intent, or None when the router has
    none (then the rules decide alone)."""
    out = []
    for h, _ in routed:
        m = router.meaning(h.transcript.text, h.transcript.confidences)
        if m is None:
            return None
        out.append(m)
    return out


def _learned(routed: Sequence[tuple[Heard, Reply]], meanings: Sequence[Mapping[str, float]], router: Routes,
             weights: DecisionWeights) -> tuple[Heard, Reply] | None:
    """The candidate the learned model is surest of, as (hypothesis, reply with its answer and
    the model's probability as confidence); None without candidates."""
    names, x = candidates(routed, meanings, router)
    if not names:
        return None
    z = linear(weights.answer, x)
    best = int(z.argmax())
    p = probability(float(z[best]))
    name = names[best]
    chose = [(h, reply) for h, reply in routed if reply.intent == name]
    if chose:
        heard, reply = max(chose, key=lambda pair: pair[1].confidence)
    else:  # scored, but below the router's bar in every pass: the pass that scored it highest
        heard, reply = max(routed, key=lambda pair: dict(pair[1].scores).get(name, float("-inf")))
        reply = replace(reply, intent=name, answer=router.answer(name), topic_hint=None)
    return heard, replace(reply, confidence=p)


def decide(hypotheses: Sequence[Heard], router: Routes, config: DecisionConfig = DecisionConfig(),
           weights: DecisionWeights | None = None) -> Decision:
    """Answer, or not: see the module doc. Hypotheses that heard nothing are ignored. ``weights``:
    the learned model's (default: the shipped ones, when ``config.learned``)."""
    routed = _route(hypotheses, router)
    # the model was fitted on three passes: with fewer (an independent file whose later passes
    # were not needed, a one-pass set-up) the rules decide
    learned = config.learned and len(hypotheses) >= PASSES
    meanings = meanings_of(routed, router) if learned else None
    return decide_routed(routed, meanings, hypotheses[0] if hypotheses else None, router, config, weights)


def decide_routed(routed: Sequence[tuple[Heard, Reply]], meanings: Sequence[Mapping[str, float]] | None,
                  first: Heard | None, router: Routes, config: DecisionConfig = DecisionConfig(),
                  weights: DecisionWeights | None = None) -> Decision:
    """:func:`decide` of hypotheses already routed, ``first`` the first hypothesis heard (for
    "I heard ..." when none was routed); ``meanings`` (:func:`meanings_of`), None: the rules alone."""
    ruled = _decide(routed, first, config, router.fallback)
    if not config.learned or not routed or meanings is None:
        return ruled
    if ruled.caught and ruled.reply is not None and ruled.reply.intent is not None \
            and ruled.reply.intent not in router.topic_names:
        return ruled  # a meta command
    if _heard_elsewhere(routed, config):
        return ruled  # enough passes heard another subject: the off-topic reply
    weights = weights or shipped_weights()
    learned = _learned(routed, meanings, router, weights)
    if learned is None:
        return ruled
    threshold = config.learned_min_confidence or weights.min_confidence
    if learned[1].confidence >= threshold:
        return Decision(learned[0], learned[1], True)
    if ruled.caught and ruled.reply is not None and ruled.reply.intent is None:
        return ruled  # the off-topic reply
    return Decision(ruled.heard, ruled.reply, False)


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
