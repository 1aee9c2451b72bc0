"""Intents built from an article with no intents file, and the `voiceskill intents` tools.

Two articles: the built-in one copied without its intents file, and tests/data/shin-splints.txt,
a second article of our own with its own question set (so nothing is fitted to glute cramps).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO, require
from evalsets import EVAL, OWN, load_topics, questions, rate
from voiceskill.article import builtin_article_path, load_article
from voiceskill.builder import TYPE_STEMS, Draft, draft_intents
from voiceskill.dialog import ALL_SAID, Dialog
from voiceskill.intents import intents_from_data
from voiceskill.intents_tools import check_intents, draft_toml
from voiceskill.lexicon import WordNet, question_types_of, wordnet_available
from voiceskill.router import Router
from voiceskill.settings import RouterConfig
from voiceskill.text import stem

SHIN = OWN / "shin-splints.txt"

pytestmark = pytest.mark.usefixtures("wordnet")


@pytest.fixture(scope="module")
def wordnet() -> None:
    require(wordnet_available(), "WordNet (Debian package wordnet-base; scripts/dev.sh installs it)")


@pytest.fixture(scope="module")
def glute_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("article") / "glutes.txt"
    shutil.copyfile(builtin_article_path(), path)
    return path


@pytest.fixture(scope="module")
def glute_router(glute_copy: Path) -> Router:
    return Router.load(glute_copy)


@pytest.fixture(scope="module")
def shin_router() -> Router:
    return Router.load(SHIN)


@pytest.fixture(scope="module")
def glute_cues(glute_copy: Path) -> Router:
    """Built intents routed by their cue words alone (no learned ranker): what the builder made."""
    return Router.load(glute_copy, config=RouterConfig(ranker=False))


@pytest.fixture(scope="module")
def shin_cues() -> Router:
    return Router.load(SHIN, config=RouterConfig(ranker=False))


def test_built_intents_have_unique_names(glute_router: Router, shin_router: Router) -> None:
    for router in (glute_router, shin_router):
        names = [i.name for i in router.intents.intents]
        assert len(names) == len(set(names))
        assert router.intents.source.startswith("built from")


def test_every_built_answer_is_article_text(shin_router: Router) -> None:
    article = load_article(SHIN)
    text = " ".join(s.text for s in article.sentences)
    for intent in shin_router.intents.topics:
        for part in (intent.answer, *intent.more):
            assert part and part in text, part


def test_tell_me_more_after_a_built_intent_says_something_new(glute_router: Router) -> None:
    dialog = Dialog(glute_router)
    first = dialog.handle("does nerve compression cause cramps")
    assert first.intent is not None and "nerve" in first.answer
    more = dialog.handle("tell me more")
    assert more.intent == "more" and more.answer and more.answer != ALL_SAID
    assert more.answer not in first.answer
    seen = {first.answer, more.answer}
    while (reply := dialog.handle("tell me more")).answer != ALL_SAID:
        assert reply.answer not in seen  # walks on, never repeats
        seen.add(reply.answer)


def test_second_article_own_questions(shin_router: Router) -> None:
    right, wrong, off = rate(shin_router, questions(OWN / "shin-splints.questions.tsv"),
                             load_topics(OWN / "shin-splints.topics.tsv"))
    assert right >= 0.80, f"right {right:.1%}"
    assert off <= 1 / 6, f"off-topic answered {off:.1%}"


def test_builtin_article_without_intents_file(glute_router: Router) -> None:
    rows = questions(EVAL / "questions.tsv") + questions(EVAL / "questions-more.tsv") + questions(OWN / "blind.tsv")
    right, wrong, off = rate(glute_router, rows, load_topics())
    # measured figures and the targets: benchmarks/built_intents_bench.py
    assert right >= 0.75, f"right {right:.1%}"
    assert wrong <= 0.10, f"wrong {wrong:.1%}"
    assert wrong <= 0.05, f"wrong {wrong:.1%}"  # the target (a wrong answer is worse than none)
    assert off <= 1 / 12, f"off-topic answered {off:.1%}"


def test_builtin_article_without_intents_file_held_out_styles(glute_router: Router) -> None:
    # styles-a only (tuned on); styles-b is never looked at question by question
    right, wrong, off = rate(glute_router, questions(OWN / "styles-a.tsv"), load_topics())
    assert right >= 0.55, f"right {right:.1%}"
    assert wrong <= 0.10, f"wrong {wrong:.1%}"
    assert wrong <= 0.06, f"wrong {wrong:.1%}"
    # the target is 1 in 12 (2 of these 35); the learned ranker answers 3 (see the README)
    assert off <= 3 / 35, f"off-topic answered {off:.1%}"


@pytest.fixture(scope="module")
def shin_draft() -> Draft:
    with WordNet() as wn:
        return draft_intents(load_article(SHIN), wn)


def test_question_types_of_the_answer_and_of_its_heading(shin_draft: Draft) -> None:
    # the heading "Why Shin Splints Happen" announces causes: every sentence under it answers "why"
    under_why = [i for i in shin_draft.intents if i.label == "why shin splints happen"]
    assert under_why and all(i.cues.get("why", 0.0) > 0 for i in under_why)
    # an answer that gives no cause counts a why-question against itself
    icing = next(i for i in shin_draft.intents if i.answer.startswith("Ice the painful area"))
    assert icing.cues.get("why", 0.0) < 0 and icing.cues.get("how often", 0.0) > 0


def test_a_question_type_no_sentence_answers_falls_back(shin_draft: Draft, shin_cues: Router) -> None:
    # the second article never says "prevent" or "avoid": its advice answers prevention questions
    assert any(i.cues.get("prevent", 0.0) > 0 for i in shin_draft.intents)
    for intent in shin_draft.intents:
        assert (intent.cues.get("prevent", 0.0) > 0) == ("action" in intent.question_types), intent.name
    assert Dialog(shin_cues).handle("how do i prevent shin splints").intent is not None


def test_question_words_are_no_synonyms(glute_router: Router, shin_router: Router) -> None:
    # "behind" (a synonym of buttocks) must not turn "what is behind it" into a subject word
    for router in (glute_router, shin_router):
        assert not set(router.intents.lexicon) & TYPE_STEMS


def test_off_subject_words_come_from_wordnet(glute_router: Router, shin_router: Router) -> None:
    # other body parts are off-subject for both articles, but never a word the article uses
    for router in (glute_router, shin_router):
        off = {p[0] for p in router.intents.off_subject}
        assert {stem("knee"), stem("shoulder"), stem("wrist")} <= off
    assert stem("calves") not in {p[0] for p in shin_router.intents.off_subject}  # the article says "calves"
    for question in ("my knee hurts when i do lunges", "my shoulder hurts when i bench"):
        assert Dialog(glute_router).handle(question).intent is None


def test_synonyms_map_to_article_words(glute_router: Router) -> None:
    lexicon = glute_router.intents.lexicon
    assert lexicon.get(stem("physician")) == (stem("doctor"),)
    assert lexicon.get(stem("buttock")) == (stem("glutes"),)
    # subject words are things: no synonym of another part of speech ("glutes" as the verb "glut")
    assert stem("overeat") not in lexicon and stem("gorge") not in lexicon and stem("glut") not in lexicon
    # forms WordNet derives from an article word
    assert lexicon.get(stem("daily")) == (stem("day"),)
    assert lexicon.get(stem("spinal")) == (stem("spine"),)
    # kinds of what an article noun names, but never another body part (biceps are no muscle here)
    assert lexicon.get(stem("surgeon")) == (stem("doctor"),)
    assert stem("biceps") not in lexicon


def test_synonyms_share_a_frequent_sense(glute_router: Router) -> None:
    # "set" is "put (in a position)" a quarter of the times it is a verb: no synonym of "position"
    with WordNet() as wn:
        assert "set" not in wn.synonyms("position", 2, min_share=0.3)
        assert "set" in wn.synonyms("position", 2, min_share=0.0)
        assert "physician" in wn.synonyms("doctor", 2, min_share=0.3)
    assert stem("set") not in glute_router.intents.lexicon
    assert stem("clip") not in glute_router.intents.lexicon


def test_prefixed_forms_whose_definition_fits_the_article(glute_router: Router) -> None:
    # "dehydrate" is defined by "removing ... water", and the article says "hydrated by drinking
    # ... water"; "design" is defined by nothing said next to "sign"
    lexicon = glute_router.intents.lexicon
    assert lexicon.get(stem("dehydration")) == (stem("hydrated"),)
    assert lexicon.get(stem("dehydrated")) == (stem("hydrated"),)
    assert stem("design") not in lexicon and stem("oversee") not in lexicon


@pytest.fixture(scope="module")
def glute_draft() -> Draft:
    with WordNet() as wn:
        return draft_intents(load_article(builtin_article_path()), wn)


def test_pronouns_and_words_that_mark_a_question_type_are_light(glute_draft: Draft) -> None:
    for intent in glute_draft.intents:
        assert not {"they", "them", "their"} & set(intent.cues), intent.name
    # "can lead to" says the sentence gives a cause; "potassium" says what it is about
    minerals = next(i for i in glute_draft.intents if i.answer.startswith("Decreased amounts of potassium"))
    assert 0 < minerals.cues["lead"] <= 0.6 * minerals.cues["potassium"] + 0.01
    doctor = next(i for i in glute_draft.intents if "see a doctor" in i.answer.split(".")[0])
    assert doctor.cues["see"] < doctor.cues["doctor"]


def test_a_sentence_that_names_another_cause_gives_none() -> None:
    def types(sentence: str) -> set[str]:
        return {qt.name for qt in question_types_of(sentence)}
    assert "cause" not in types("See a doctor, as there may be another cause of your muscle cramps.")
    assert "cause" in types("Muscle cramps can be caused by intense physical training.")
    assert "cause" in types("Low potassium can cause cramps.")
    assert "cause" in types("Decreased amounts of potassium can lead to cramping.")


def test_a_cue_against_an_intent_explains_no_question_word() -> None:
    # two intents alike but for a cue that counts (a little) against the first: a question word
    # only that cue names is unexplained for both, so the first scores lower, never higher
    article = load_article(SHIN)
    first, second = (s.text for s in list(article.sentences)[:2])
    data = {"router": {"subject": ["shin"]},
            "intent": [{"name": "against", "answer": first, "cues": {"splints": 3.0, "best": -0.01}},
                       {"name": "plain", "answer": second, "cues": {"splints": 3.0}}]}
    router = Router(intents_from_data(data, article, "test", "test"), article)
    scores = {intent.name: score for score, intent in router.score("best splints")}
    assert scores["against"] < scores["plain"]


def test_built_without_wordnet_still_answers(tmp_path: Path) -> None:
    article = load_article(SHIN)
    draft = draft_intents(article, None)
    built = intents_from_data(draft.as_data(), article, "test", "test")
    assert not built.lexicon and not built.off_subject
    reply = Dialog(Router(built, article)).handle("should i ice my shins")
    assert reply.intent is not None and "Ice" in reply.answer


# -- intents draft / check ---------------------------------------------------------------------
def voiceskill(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voiceskill", "-q", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_draft_loads_and_routes_as_built(tmp_path: Path, shin_router: Router) -> None:
    article_path = tmp_path / "shin.txt"
    shutil.copyfile(SHIN, article_path)
    out = voiceskill("intents", "draft", str(article_path))
    assert out.returncode == 0, out.stderr
    drafted = tmp_path / "shin.intents.toml"
    text = drafted.read_text()
    assert text.startswith("#") and "[[intent]]" in text and "cues below 0" in text
    router = Router.load(article_path)  # the drafted file beside it, read as any intents file
    assert router.intents.source == str(drafted)
    for _, question in questions(OWN / "shin-splints.questions.tsv"):
        assert router.route(question).intent == shin_router.route(question).intent, question
    again = voiceskill("intents", "draft", str(article_path))
    assert again.returncode != 0 and "exists" in again.stderr and "Traceback" not in again.stderr
    assert drafted.read_text() == text  # nothing lost


def test_check_is_clean_on_the_builtin_article() -> None:
    out = voiceskill("intents", "check")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 error(s)" in out.stdout


@pytest.mark.parametrize("article", [SHIN, builtin_article_path()], ids=["shin-splints", "glute-cramps"])
def test_check_is_clean_on_built_intents(article: Path) -> None:
    with WordNet() as wn:
        data = draft_intents(load_article(article), wn).as_data()
    report = check_intents(data, load_article(article), "built", ())
    assert report.ok, report.errors


def test_check_routes_questions_in_a_table(glute_copy: Path) -> None:
    out = voiceskill("intents", "check", str(glute_copy), "--questions", str(EVAL / "questions.tsv"),
                     "--topics", str(EVAL / "topics.tsv"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "how much water should i drink each day" in out.stdout and "right:" in out.stdout


def _curated(article_path: Path) -> dict:
    return tomllib.loads(article_path.with_name("glute-cramps.intents.toml").read_text())


def test_check_finds_a_paraphrased_answer(tmp_path: Path) -> None:
    data = _curated(builtin_article_path())
    data["intent"][0]["answer"] = "Drink at least two litres of water a day."  # not what the article says
    report = check_intents(data, load_article(), "planted", ())
    assert not report.ok and any("not article text" in e for e in report.errors)


def test_check_finds_a_colliding_example(tmp_path: Path) -> None:
    data = _curated(builtin_article_path())
    data["intent"][1]["examples"] = list(data["intent"][1]["examples"]) + [data["intent"][0]["examples"][0]]
    report = check_intents(data, load_article(), "planted", ())
    assert not report.ok and any("also an example of" in e for e in report.errors)


def test_check_cli_exits_non_zero_on_planted_error(tmp_path: Path) -> None:
    article_path = tmp_path / "shin.txt"
    shutil.copyfile(SHIN, article_path)
    with WordNet() as wn:
        text = draft_toml(draft_intents(load_article(article_path), wn), load_article(article_path))
    bad = tmp_path / "bad.intents.toml"
    bad.write_text(text.replace("Rest is the main treatment.", "Rest is the best medicine.", 1))
    out = voiceskill("intents", "check", str(article_path), "--intents", str(bad))
    assert out.returncode == 1 and "not article text" in out.stdout and "Traceback" not in out.stderr


def test_intents_commands_bad_input_one_line_error(tmp_path: Path) -> None:
    out = voiceskill("intents", "draft", str(tmp_path / "missing.txt"))
    assert out.returncode != 0 and out.stderr.count("\n") == 1 and "not found" in out.stderr
    garbage = tmp_path / "x.intents.toml"
    garbage.write_text("[[intent]\nname=")
    out = voiceskill("intents", "check", str(SHIN), "--intents", str(garbage))
    assert out.returncode != 0 and "Traceback" not in out.stderr


def test_an_article_word_that_wordnet_gives_as_a_subject_synonym_names_the_subject(tmp_path: Path) -> None:
    # "spasm" shares cramp's sense: a question about calf spasms is on the subject of calf cramps
    path = tmp_path / "calves.txt"
    path.write_text("Calf Cramps\n\nCalf cramps wake many runners at night. Stretch your legs before bed.\n\n"
                    "Causes of Calf Cramps\n\nA tired calf can spasm after a long run. Cold weather makes "
                    "muscles tight.\n", encoding="utf-8")
    with WordNet() as wn:
        draft = draft_intents(load_article(path), wn)
    assert "spasm" in draft.subject


def test_a_typed_question_naming_another_body_part_and_not_the_subject_gets_no_answer(glute_router: Router) -> None:
    # built off-subject words are a guess: alone they end the question, beside a subject word
    # ("a lump in my glute after leg day") they only count against the answers
    assert glute_router.intents.off_subject_alone_final and not glute_router.intents.off_subject_final
    for question in ("my wrist aches after typing all day, should i see a doctor",
                     "how much water should i drink for my elbow"):
        assert Dialog(glute_router).handle(question).intent is None, question


def test_what_is_the_title_goes_to_the_definition_of_its_last_word(glute_cues: Router) -> None:
    # WordNet has no "glute cramp": a glute cramp is a cramp (the title's last word), so the
    # answer that defines a cramp, not the one about glutes (by the cue words: the learned ranker,
    # led by meaning, answers with the one about glutes, see README "Articles and intents")
    reply = Dialog(glute_cues).handle("so what exactly is a glute cramp")
    assert "involuntary muscle contractions" in reply.answer, reply
