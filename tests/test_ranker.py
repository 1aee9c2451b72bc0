"""The learned ranker for built intents (voiceskill/ranker.py) and how the router uses it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import require
from evalsets import OWN, load_topics, questions, rate
from fakes import TopicEmbedder

from voiceskill import e5, ranker
from voiceskill.errors import ConfigError
from voiceskill.lexicon import wordnet_available
from voiceskill.router import Router
from voiceskill.semantic import SemanticError, find_model_dir
from voiceskill.settings import RouterConfig

ARTICLE = ("Cramp Care\n\nby A. Writer\n\nWhat Helps\n\nDrink plenty of water every day to keep cramps away. "
           "Stretch your muscles gently before training. Rest a day when a cramp keeps coming back.\n")
TOPICS = {"water": ("drink", "water", "fluids", "thirsty"), "stretch": ("stretch", "loosen", "limber"),
          "rest": ("rest", "break", "day")}


def test_the_shipped_weights_load_and_write_back_the_same(tmp_path: Path) -> None:
    weights = ranker.RankerWeights.load(ranker.default_weights_path())
    assert weights.choose.features == ranker.CHOOSE_FEATURES and weights.trust.features == ranker.TRUST_FEATURES
    copy = tmp_path / "ranker.toml"
    copy.write_text(weights.to_toml())
    again = ranker.RankerWeights.load(copy)
    for a, b in ((weights.choose, again.choose), (weights.trust, again.trust)):
        assert np.allclose(a.weights, b.weights, rtol=1e-5) and np.allclose(a.mean, b.mean, rtol=1e-5)


@pytest.mark.parametrize("text", ["[choose]\nfeatures = 3\n", "not toml [", ""])
def test_unreadable_weights_are_one_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "ranker.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="ranker"):
        ranker.RankerWeights.load(path)


def test_weights_of_other_features_are_refused(tmp_path: Path) -> None:
    text = ranker.RankerWeights.load(ranker.default_weights_path()).to_toml().replace('"cue_rank"', '"rank"')
    path = tmp_path / "ranker.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="does not match"):
        ranker.RankerWeights.load(path)


def test_the_most_probable_sentence_is_answered_by_its_most_probable_intent() -> None:
    # intents A (s1 s2), B (s2 s3), C (s3): s2 has A's and B's probability
    says = np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]], float)
    assert ranker.pick(np.array([0.5, 0.3, 0.2]), says)[0] == 0
    # the most probable intent loses to a sentence two other intents say: A (s1), B (s2 s3), C (s3)
    says = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1]], float)
    index, mass = ranker.pick(np.array([0.4, 0.35, 0.25]), says)
    assert index == 1 and mass == pytest.approx(0.6 / 1.35)


def test_no_intents_no_choice() -> None:
    weights = ranker.RankerWeights.load(ranker.default_weights_path())
    assert ranker.choose(weights, ranker.Evidence([], {}, {}, True), np.zeros((0, 0))) is None


def built(tmp_path: Path, **settings: object) -> Router:
    article = tmp_path / "care.txt"  # no intents file beside it: built intents
    article.write_text(ARTICLE)
    return Router.load(article, config=RouterConfig(**settings),  # type: ignore[arg-type]
                       embedder=TopicEmbedder(TOPICS), embedder_id="topics", cache_dir=tmp_path / "cache")


def test_built_intents_are_chosen_by_the_ranker(tmp_path: Path) -> None:
    require(wordnet_available(), "WordNet (Debian package wordnet-base; scripts/dev.sh installs it)")
    router = built(tmp_path)
    question = "how much water should i drink for cramps"
    evidence = router.ranking_inputs(question)
    assert evidence is not None and evidence.on_subject
    assert set(evidence.meaning) == set(evidence.names) and set(evidence.cue) <= set(evidence.names)
    weights = ranker.RankerWeights.load(ranker.default_weights_path())
    choice = ranker.choose(weights, evidence, router._says)
    reply = router.route(question)
    assert choice is not None and reply.confidence == pytest.approx(choice.confidence)
    assert reply.intent == choice.name and "water" in reply.answer
    # its threshold holds it back
    assert built(tmp_path, ranker_min_confidence=1.0).route(question).intent is None
    # switched off, the cue words alone decide (and no passage is encoded)
    plain = built(tmp_path, ranker=False)
    assert plain.ranking_inputs(question) is None and plain.route(question).intent is not None
    # a meta command is no question for it
    assert router.ranking_inputs("stop") is None and router.route("stop").intent == "stop"


def test_curated_intents_with_examples_take_no_ranker(tmp_path: Path) -> None:
    router = Router.load(config=RouterConfig(), embedder=TopicEmbedder(TOPICS), embedder_id="topics",
                         cache_dir=tmp_path / "cache")
    assert router.ranking_inputs("why do my glutes cramp") is None


@pytest.mark.parametrize("model", ["all-MiniLM-L6-v2", "e5-small-v2"])
@pytest.mark.parametrize("name", ["side-stitch", "doms"])
def test_the_ranker_answers_more_and_less_wrongly_on_articles_it_was_not_built_for(name: str, model: str) -> None:
    # (its weights were fitted on these articles' questions too: scripts/fit_ranker.py judges each
    # article by weights fitted without it, and the README gives those figures)
    require(wordnet_available(), "WordNet (Debian package wordnet-base; scripts/dev.sh installs it)")
    try:
        find_model_dir()
        if model == "e5-small-v2":
            e5.find_model_dir()
    except SemanticError as e:
        pytest.skip(str(e))
    rows, patterns = questions(OWN / f"{name}.questions.tsv"), load_topics(OWN / f"{name}.topics.tsv")
    router = Router.load(OWN / f"{name}.txt", config=RouterConfig(passage_model=model))  # type: ignore[arg-type]
    assert router.passage_model == model
    with_ranker = rate(router, rows, patterns)
    by_cues = rate(Router.load(OWN / f"{name}.txt", config=replace(RouterConfig(), ranker=False)), rows, patterns)
    assert with_ranker[0] > by_cues[0] and with_ranker[1] < by_cues[1], (with_ranker, by_cues)
    right, wrong, _ = with_ranker
    assert right >= 0.5 and wrong <= 0.14, with_ranker
