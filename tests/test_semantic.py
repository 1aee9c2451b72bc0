"""Semantic evidence (voiceskill/semantic.py) and how the router weighs it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fakes import TopicEmbedder

from voiceskill.errors import IntentsError, ModelError
from voiceskill.router import Router
from voiceskill.semantic import IntentSimilarity, SemanticError, find_model_dir, shared_model
from voiceskill.settings import RouterConfig

ARTICLE = ("Cramp Care\n\nby A. Writer\n\nDrink plenty of water every day to keep cramps away. "
           "Stretch your muscles gently before training.\n")
INTENTS = '''
[router]
subject_name = "cramps"
subject = ["cramp"]

[[intent]]
name = "water"
cues = { water = 5 }
examples = ["how much water should i drink", "do i need more fluids", "am i drinking enough fluids"]
answer = "Drink plenty of water every day to keep cramps away."

[[intent]]
name = "stretch"
cues = { stretch = 5 }
examples = ["should i stretch before training", "how do i loosen up", "is it worth getting limber"]
answer = "Stretch your muscles gently before training."
'''
TOKENIZER = ('{"version": "1.0", "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 1}, '
             '"unk_token": "[UNK]"}, "pre_tokenizer": {"type": "Whitespace"}}')
TOPICS = {"water": ("drink", "drinking", "fluids", "thirsty"), "stretch": ("stretch", "loosen", "limber")}


def small_router(tmp_path: Path, embedder: TopicEmbedder | None, **settings: object) -> Router:
    article = tmp_path / "care.txt"
    article.write_text(ARTICLE)
    (tmp_path / "care.intents.toml").write_text(INTENTS)
    config = RouterConfig(**settings)  # type: ignore[arg-type]
    return Router.load(article, config=config, embedder=embedder, embedder_id="topics",
                       cache_dir=tmp_path / "cache")


def test_an_unsure_question_is_answered_by_its_meaning(tmp_path: Path) -> None:
    question = "my cramp makes me thirsty, which fluids"
    assert small_router(tmp_path, None, semantic=False).route(question).intent is None
    assert small_router(tmp_path, TopicEmbedder(TOPICS)).route(question).intent == "water"
    # not when the question is not on the subject, however close in meaning
    assert small_router(tmp_path, TopicEmbedder(TOPICS)).route("thirsty, which fluids").intent is None
    # nor above a strict threshold: the bonus does not reach it
    strict = small_router(tmp_path, TopicEmbedder(TOPICS), min_confidence=0.99)
    assert strict.route(question).intent is None


def test_an_answer_clearly_about_something_else_is_held_back(tmp_path: Path) -> None:
    question = "cramp water loosen limber"       # a cue for water, the meaning of stretching
    assert small_router(tmp_path, None, semantic=False).route(question).intent == "water"
    reply = small_router(tmp_path, TopicEmbedder(TOPICS), semantic_switch=False).route(question)
    assert reply.intent is None and "Drink" not in reply.answer
    # recognized speech is held to a closer agreement than typed text
    typed_lenient = small_router(tmp_path, TopicEmbedder(TOPICS), semantic_veto=1.0, semantic_veto_heard=0.0,
                                 semantic_floor=0.0, semantic_switch=False)
    assert typed_lenient.route(question).intent == "water"
    assert typed_lenient.route(question, [1.0] * 4).intent is None


def test_the_cues_second_choice_is_answered_when_the_meaning_clearly_names_it(tmp_path: Path) -> None:
    question = "cramp water loosen limber"       # a cue for water, the meaning of stretching
    scores = small_router(tmp_path, None, semantic=False).score(question)
    assert [i.name for _, i in scores[:2]] == ["water", "stretch"]   # stretching: the runner-up
    assert small_router(tmp_path, TopicEmbedder(TOPICS)).route(question).intent == "stretch"
    # not when it is not the runner-up: only the cues' two best may be chosen by meaning
    assert small_router(tmp_path, TopicEmbedder(TOPICS)).route("cramp water limber now").intent is None
    # for speech too, the meaning must lead by the typed-text margin (semantic_veto) to switch
    heard = small_router(tmp_path, TopicEmbedder(TOPICS), semantic_veto=1.0)
    assert heard.route(question, [1.0] * 4).intent is None


def test_an_answer_far_in_meaning_from_every_example_is_held_back(tmp_path: Path) -> None:
    question = "cramp water now"                 # no word of any topic: far from every example
    router = small_router(tmp_path, TopicEmbedder(TOPICS), semantic_veto=1.0, semantic_veto_heard=1.0,
                          veto_overruled_lead=0.0)
    assert router.route(question).intent is None
    floorless = small_router(tmp_path, TopicEmbedder(TOPICS), semantic_floor=0.0, semantic_veto=1.0,
                             veto_overruled_lead=0.0)
    assert floorless.route(question).intent == "water"


def test_decisive_cue_words_on_the_subject_are_not_held_back_by_meaning(tmp_path: Path) -> None:
    question = "cramp water now"                 # far in meaning from every example, one cue, no rival
    lead = small_router(tmp_path, None, semantic=False).score(question)[0][0]
    assert lead >= RouterConfig().veto_overruled_lead
    decisive = small_router(tmp_path, TopicEmbedder(TOPICS))
    assert decisive.route(question).intent == "water"
    # typed only: in speech a misheard word may be what carries the cue
    assert decisive.route(question, [1.0] * 3).intent is None
    # a lead short of the bar is held back, as is one off the subject ("water now")
    assert small_router(tmp_path, TopicEmbedder(TOPICS), veto_overruled_lead=lead + 0.1).route(question).intent is None
    off_subject = small_router(tmp_path, TopicEmbedder(TOPICS), veto_overruled_lead=0.1, min_confidence=0.1)
    assert off_subject.score("water now")[0][0] > 0.1
    assert off_subject.route("water now").intent is None


def test_the_embedder_reads_typing_slips_corrected_and_misheard_words_dropped(tmp_path: Path) -> None:
    embedder = TopicEmbedder(TOPICS)
    router = small_router(tmp_path, embedder)
    router.route("how much watter for a cramp")
    assert embedder.seen[-1] == "how much water for a cramp"
    router.route("how much [unk] water for a cramp", [1.0, 1.0, 0.0, 0.2, 1.0, 1.0, 1.0])
    assert embedder.seen[-1] == "how much for a cramp"


def test_semantic_off_never_encodes(tmp_path: Path) -> None:
    embedder = TopicEmbedder(TOPICS)
    small_router(tmp_path, embedder, semantic=False).route("cramp water")
    assert embedder.seen == []


def test_example_vectors_are_cached(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    examples = {"water": ["how much water should i drink"], "stretch": ["how do i loosen up"]}
    first = TopicEmbedder(TOPICS)
    IntentSimilarity(first, examples, identity="topics", cache_dir=tmp_path)
    assert len(first.seen) == 2
    (cached,) = tmp_path.glob("examples-*.npy")
    assert not list(tmp_path.glob("*.tmp*"))
    second = TopicEmbedder(TOPICS)
    sims = IntentSimilarity(second, examples, identity="topics", cache_dir=tmp_path)("thirsty drink")
    assert second.seen == ["thirsty drink"] and sims["water"] > sims["stretch"]
    cached.write_bytes(b"not numpy")
    third = TopicEmbedder(TOPICS)
    with caplog.at_level(logging.WARNING):
        IntentSimilarity(third, examples, identity="topics", cache_dir=tmp_path)
    assert len(third.seen) == 2 and "unreadable cache" in caplog.text


def test_a_named_model_folder_must_be_there(tmp_path: Path) -> None:
    with pytest.raises(SemanticError) as err:
        find_model_dir(tmp_path / "nowhere")
    assert "\n" not in str(err.value) and "model.safetensors" in str(err.value)
    with pytest.raises(ModelError):
        Router.load(config=RouterConfig(semantic_model=str(tmp_path / "nowhere")))


def test_a_broken_weights_file_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"\xff" * 64)
    for broken in ("config.json", "tokenizer.json", "model.safetensors"):
        if broken != "config.json":  # the ones before it are made good
            (tmp_path / "config.json").write_text('{"num_hidden_layers": 1, "num_attention_heads": 1, "hidden_size": 4}')
        if broken == "model.safetensors":
            (tmp_path / "tokenizer.json").write_text(TOKENIZER)
        with pytest.raises(ModelError) as err:
            shared_model(str(tmp_path))
        assert "\n" not in str(err.value) and broken in str(err.value)


@pytest.fixture(scope="module")
def real_model_dir() -> Path:
    try:
        return find_model_dir()
    except SemanticError as e:
        pytest.skip(str(e))


def test_the_real_model_places_a_paraphrase_nearer_than_another_question(real_model_dir: Path) -> None:
    model = shared_model()
    v = model.encode(["why do my glutes keep cramping", "what makes my butt muscles seize up",
                      "how many litres of water a day", "what is the capital of france"])
    sims = v @ v.T
    assert abs(float((v * v).sum(1).min()) - 1.0) < 1e-4
    assert sims[0, 1] > sims[0, 2] + 0.2 and sims[0, 1] > sims[0, 3] + 0.2
    # one text alone encodes as it does in a batch (padding is masked out)
    alone = model.encode(["what makes my butt muscles seize up"])[0]
    assert float(alone @ v[1]) > 0.999


def test_the_coach_answers_a_phrasing_no_cue_knows(real_model_dir: Path) -> None:
    question = "my cheeks lock solid halfway up the stairs, which nutrients am i short of"
    cues_only = Router.load(config=RouterConfig(semantic=False)).route(question)
    reply = Router.load().route(question)
    assert reply.intent == "nutrients", (cues_only.intent, reply.scores)


def test_priming_encodes_the_passes_hypotheses_once_and_routes_the_same(tmp_path: Path) -> None:
    heard = [("my cramp makes me thirsty", [1.0] * 5), ("my cramp makes me thirsty", [1.0] * 5),
             ("cramp water loosen limber", [1.0] * 4)]
    cold = small_router(tmp_path, TopicEmbedder(TOPICS))
    expected = [cold.route(text, confs) for text, confs in heard]
    embedder = TopicEmbedder(TOPICS)
    router = small_router(tmp_path, embedder)
    router.prime(heard)
    assert embedder.seen == ["my cramp makes me thirsty", "cramp water loosen limber"]
    assert [router.route(text, confs) for text, confs in heard] == expected
    assert len(embedder.seen) == 2


def test_paraphrases_are_for_meaning_only(tmp_path: Path) -> None:
    article = tmp_path / "care.txt"
    article.write_text(ARTICLE)
    (tmp_path / "care.intents.toml").write_text(INTENTS.replace(
        'examples = ["how much water should i drink"',
        'paraphrases = ["quenching my parched throat"]\nexamples = ["how much water should i drink"'))
    embedder = TopicEmbedder(TOPICS)
    router = Router.load(article, embedder=embedder, cache_dir=tmp_path / "cache")
    assert "quenching my parched throat" in embedder.seen           # a way of asking, for meaning
    assert not {"quenching", "parched"} & router.vocabulary()       # never in the grammar
    assert router.route("quenching parched").scores == ()           # nor a cue or example
    (tmp_path / "care.intents.toml").write_text(INTENTS.replace(
        'examples = ["how much water should i drink"', 'paraphrases = "one"\nexamples = ["how much water should i drink"'))
    with pytest.raises(IntentsError) as err:
        Router.load(article, embedder=embedder)
    assert "paraphrases" in str(err.value) and "\n" not in str(err.value)
