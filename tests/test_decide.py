"""The decision step's learned model (voiceskill/decide.py) on top of its rules (tests/test_passes.py)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from voiceskill import decide as decision
from voiceskill.errors import ConfigError
from voiceskill.passes import Heard
from voiceskill.recognizer import Transcript, Word
from voiceskill.router import Router
from voiceskill.settings import DecisionConfig, RouterConfig

ROUTER = Router.load()
LEARNED = DecisionConfig()
RULES = DecisionConfig(learned=False)


def heard(name: str, text: str, conf: float = 1.0) -> Heard:
    return Heard(name, Transcript(text, tuple(Word(w, conf, 0.0, 0.0) for w in text.split()), True))


def passes(*texts: str, conf: float = 1.0) -> list[Heard]:
    return [heard(n, t, conf) for n, t in zip(("plain", "strong", "webrtc"), texts)]


def test_the_shipped_weights_load_and_write_back_the_same(tmp_path: Path) -> None:
    weights = decision.DecisionWeights.load(decision.default_weights_path())
    assert weights.answer.features == decision.FEATURES and 0.5 <= weights.min_confidence < 1.0
    copy = tmp_path / "decision.toml"
    copy.write_text(weights.to_toml())
    again = decision.DecisionWeights.load(copy)
    assert np.allclose(again.answer.weights, weights.answer.weights, rtol=1e-5)
    assert again.min_confidence == pytest.approx(weights.min_confidence)


@pytest.mark.parametrize("text", ["[answer]\nfeatures = 3\n", "min_confidence = 0.8\n", "not toml ["])
def test_unreadable_weights_are_one_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "decision.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="decision weights"):
        decision.DecisionWeights.load(path)


def test_every_pass_hearing_one_question_is_answered() -> None:
    d = decision.decide(passes(*["how much water should i drink"] * 3), ROUTER, LEARNED)
    assert d.caught and d.reply is not None and d.reply.intent == "water"
    assert d.reply.answer == ROUTER.answer("water") and d.reply.confidence >= decision.shipped_weights().min_confidence


def test_candidates_describe_votes_meaning_and_rivals() -> None:
    hyps = passes("how much water should i drink", "how much water should i drink", "why do my glutes cramp")
    routed = decision._route(hyps, ROUTER)
    meanings = decision.meanings_of(routed, ROUTER)
    assert meanings is not None
    names, x = decision.candidates(routed, meanings, ROUTER)
    assert {"water", "causes"} <= set(names) and x.shape == (len(names), len(decision.FEATURES))
    row = dict(zip(decision.FEATURES, x[names.index("water")]))
    assert row["bias"] == 1.0 and row["votes"] == pytest.approx(2 / 3) and row["rival_votes"] == pytest.approx(1 / 3)
    assert row["meaning_first"] == pytest.approx(2 / 3) and row["meaning_lead"] > 0
    # the model is surer of the topic two passes heard than of the one a single pass heard
    z = decision.linear(decision.shipped_weights().answer, x)
    assert z[names.index("water")] > z[names.index("causes")]


def test_noise_heard_as_different_article_words_is_not_answered() -> None:
    d = decision.decide(passes("much water", "blood supply", "warm up", conf=0.6), ROUTER, LEARNED)
    assert not d.caught


def test_its_threshold_and_switch() -> None:
    question = passes(*["how much water should i drink"] * 3)
    assert not decision.decide(question, ROUTER, replace(LEARNED, learned_min_confidence=1.0)).caught
    with pytest.raises(ValueError):
        DecisionConfig(learned_min_confidence=1.5)
    odd = passes("much water", "why do my glutes cramp", "much water", conf=0.9)
    assert decision.decide(odd, ROUTER, RULES) == decision.decide_routed(
        decision._route(odd, ROUTER), None, odd[0], ROUTER, LEARNED)  # no meaning: the rules alone


def test_commands_and_other_subjects_stay_with_the_rules() -> None:
    d = decision.decide(passes("stop", "stop", "stop"), ROUTER, LEARNED)
    assert d.caught and d.reply is not None and d.reply.intent == "stop"
    foot = passes(*["foot cramp right now"] * 3, conf=0.9)
    d = decision.decide(foot, ROUTER, LEARNED)
    assert d.caught and d.reply is not None and d.reply.intent is None and d.reply.answer == ROUTER.fallback
    off = decision.decide(passes(*["what is the capital of france"] * 3), ROUTER, LEARNED)
    assert off.caught and off.reply is not None and off.reply.intent is None


def test_built_intents_are_decided_by_the_rules(tmp_path: Path) -> None:
    article = tmp_path / "article.txt"  # no intents file beside it, and no meaning of examples
    shutil.copyfile(Path(__file__).parent / "data" / "shin-splints.txt", article)
    router = Router.load(article, config=RouterConfig(semantic=False))
    hyps = passes("what causes shin splints", "what causes shin splints", "how do i treat them")
    assert decision.meanings_of(decision._route(hyps, router), router) is None
    assert decision.decide(hyps, router, LEARNED) == decision.decide(hyps, router, RULES)
