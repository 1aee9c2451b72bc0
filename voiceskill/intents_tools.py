"""Tools to curate intents: draft an intents file from an article, and check one.

:func:`draft_toml` writes what :func:`voiceskill.intents.build_intents` would build as a
commented ``ARTICLE.intents.toml`` (it loads into the same intents, so it routes the same) for a
person to edit. :func:`check_intents` reports what is wrong with an intents file (or with
built intents): answers that are not article text, article sentences no answer reaches,
examples that collide between intents, how development questions route, and words the speech
model cannot hear.
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from voiceskill.article import Article
from voiceskill.builder import Draft
from voiceskill.errors import IntentsError
from voiceskill.intents import STOP_STEMS, IntentSet, intents_from_data, normalize
from voiceskill.text import words

log = logging.getLogger(__name__)

MIN_WORTH_ANSWERING = 4
"""An article sentence with at least this many content words is worth answering."""


# -- draft ------------------------------------------------------------------------------------
def _s(text: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML for these texts)."""
    return json.dumps(text, ensure_ascii=False)


def _comment(text: str) -> list[str]:
    return ["# " + line if line else "#" for line in text.splitlines()]


def draft_toml(draft: Draft, article: Article) -> str:
    """A commented intents file for ``article`` from a :class:`Draft` (loads as it is)."""
    out = _comment(
        f"Intents for {article.title!r}, drafted by `voiceskill intents draft` from the article alone.\n"
        "Edit it: merge intents that answer the same question, write `examples` the way people ask,\n"
        "give `label`s and a `summary` for the help reply, drop lexicon entries that mean something\n"
        "else in your article. `voiceskill intents check ARTICLE` tells what is wrong.\n"
        "Every `answer` and `more` must quote the article: loading fails otherwise.")
    data = draft.as_data()
    router = data["router"]
    out += ["", "[router]", f"subject_name = {_s(router['subject_name'])}"]
    if "summary" in router:
        out.append(f"summary = {_s(router['summary'])}")
    out += ["# words that show a question is about the article's subject",
            f"subject = [{', '.join(_s(w) for w in router['subject'])}]",
            "# words that show a question is about something else of the same kind (from WordNet)",
            f"off_subject = [{', '.join(_s(w) for w in router['off_subject'])}]",
            *(["# a typed question naming one of them and no subject word gets no answer",
               "off_subject_alone_final = true"] if router.get("off_subject_alone_final") else []),
            "", "[lexicon]", "# a word people may say -> the article's word (WordNet synonyms)"]
    out += [f"{_s(k)} = {_s(v)}" for k, v in sorted(data["lexicon"].items())]
    for intent in draft.intents:
        out += ["", "[[intent]]", f"name = {_s(intent.name)}", f"label = {_s(intent.label)}"]
        if intent.question_types:
            out.append(f"# answers questions of type: {', '.join(intent.question_types)}")
        if any(weight < 0 for weight in intent.cues.values()):
            out.append("# cues below 0 are questions of types this answer is not of: they count against it")
        out.append(f"answer = {_s(intent.answer)}")
        out.append("more = [" + "".join(f"\n    {_s(m)}," for m in intent.more) + ("\n]" if intent.more else "]"))
        out.append(f"examples = [{', '.join(_s(e) for e in intent.examples)}]")
        out.append(f"needs = [{', '.join(_s(n) for n in intent.needs)}]")
        out.append("cues = { " + ", ".join(f"{_s(k)} = {v:g}" for k, v in intent.cues.items()) + " }")
    return "\n".join(out) + "\n"


# -- check ------------------------------------------------------------------------------------
@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    routes: list[tuple[str, str, str | None, float, bool | None]] = field(default_factory=list)
    """(question, expected topic or "", intent or None, confidence, right or None)"""
    unknown_words: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _key(text: str) -> str:
    return " ".join(words(text))


def _pieces(text: str) -> list[str]:
    return [p for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p.strip()]


def check_answers(data: Mapping[str, Any], article: Article) -> list[str]:
    """Errors for every answer or `more` piece that is not article text."""
    article_keys = [_key(s.text) for s in article.sentences]
    errors = []
    for n, raw in enumerate(data.get("intent", []), 1):
        name = raw.get("name", f"intent {n}")
        texts = [raw.get("answer", "")] + list(raw.get("more", []))
        for text in texts:
            if not isinstance(text, str):
                continue
            for piece in _pieces(text):
                key = _key(piece)
                if key and not any(key in a for a in article_keys):
                    errors.append(f"{name}: answer is not article text: {piece!r}")
    return errors


def check_intents(data: Mapping[str, Any], article: Article, source: str,
                  questions: Sequence[tuple[str, str]] = (),
                  judge: Any = None, model_words: frozenset[str] | None = None) -> CheckReport:
    """Check the parsed contents of an intents file (or a :class:`Draft`'s data) for ``article``.

    ``questions`` are (topic or "", question) pairs to route; ``judge(topic, intent, answer)``
    says whether a reply is right. ``model_words`` is the speech model's word list (None: not
    checked).
    """
    from voiceskill.router import Router

    report = CheckReport()
    report.errors += check_answers(data, article)
    if report.errors:
        return report  # the file does not load: nothing more can be checked
    try:
        intents = intents_from_data(data, article, source, source)
    except IntentsError as exc:
        report.errors.append(str(exc))
        return report
    router = Router(intents, article)
    report.warnings += _unreachable(intents, article)
    errors, warnings = _collisions(intents, data)
    report.errors += errors
    report.warnings += warnings
    report.warnings += _misrouted_examples(intents, data, router)
    for topic, question in questions:
        reply = router.route(question)
        right = judge(topic, reply.intent, reply.answer) if judge is not None and topic else None
        report.routes.append((question, topic, reply.intent, reply.confidence, right))
    if model_words:
        report.unknown_words = sorted(w for w in _spoken_words(data) if w not in model_words)
    return report


def _unreachable(intents: IntentSet, article: Article) -> list[str]:
    said = " ".join(_key(t) for i in intents.topics for t in (i.answer, *i.more))
    out = []
    for sentence in article.sentences:
        content = [w for w in words(sentence.text) if w not in STOP_STEMS]
        if len(content) >= MIN_WORTH_ANSWERING and _key(sentence.text) not in said:
            out.append(f"no answer reaches this sentence: {sentence.text!r}")
    return out


def _collisions(intents: IntentSet, data: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Errors: the same example (once normalized) in two intents. Warnings: examples of two
    intents made of the same content words (subject words aside), which the router cannot
    tell apart."""
    errors, warnings = [], []
    same: dict[tuple[str, ...], str] = {}
    alike: dict[tuple[str, ...], str] = {}
    subject = {p[0] for p in intents.subject if len(p) == 1}
    for raw in data.get("intent", []):
        name = raw.get("name", "?")
        for example in raw.get("examples", []):
            stems = normalize(example, intents.lexicon)
            if stems in same and same[stems] != name:
                errors.append(f"example {example!r} of {name} is also an example of {same[stems]}")
            same.setdefault(stems, name)
            key = tuple(sorted(set(stems) - STOP_STEMS - subject))
            if key and key in alike and alike[key] != name and same[stems] == name:
                warnings.append(f"example {example!r} of {name} has the same words as one of {alike[key]}")
            alike.setdefault(key, name)
    return errors, warnings


def _misrouted_examples(intents: IntentSet, data: Mapping[str, Any], router: Any) -> list[str]:
    out = []
    for raw in data.get("intent", []):
        name = raw.get("name", "?")
        for example in raw.get("examples", []):
            reply = router.route(example)
            if reply.intent is not None and reply.intent != name and len(words(example)) > 2:
                if intents.by_name(reply.intent).answer != intents.by_name(name).answer:
                    out.append(f"example {example!r} of {name} routes to {reply.intent}")
    return out


def _spoken_words(data: Any) -> set[str]:
    """Words a person would say to reach the intents: examples, cues, lexicon keys, subject."""
    found: set[str] = set()
    for raw in data.get("intent", []):
        for text in [*raw.get("examples", []), *dict(raw.get("cues", {}))]:
            found.update(words(text))
    found.update(w for k in data.get("lexicon", {}) for w in words(k))
    found.update(w for s in data.get("router", {}).get("subject", []) for w in words(s))
    return found


def parse_intents_text(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise IntentsError(f"{where}: {exc}") from None


def read_topics(lines: Iterable[str]) -> dict[str, re.Pattern[str] | None]:
    """``topic<TAB>regex`` lines: the answer a question of that topic must match ("fallback": none)."""
    out: dict[str, re.Pattern[str] | None] = {}
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        topic, _, rest = line.rstrip("\n").partition("\t")
        regex = rest.split("\t")[0]
        try:
            out[topic.strip()] = None if topic.strip() == "fallback" else re.compile(regex, re.IGNORECASE)
        except re.error as exc:
            raise IntentsError(f"topics: bad regex for {topic!r}: {exc}") from None
    return out


def topic_judge(topics: Mapping[str, re.Pattern[str] | None]) -> Any:
    """judge(topic, intent, answer): the answer matches the topic's regex; for "fallback", no intent."""
    def judge(topic: str, intent: str | None, answer: str) -> bool | None:
        if topic not in topics:
            return None
        pattern = topics[topic]
        return intent is None if pattern is None else bool(pattern.search(answer))
    return judge


def read_questions(lines: Iterable[str]) -> list[tuple[str, str]]:
    """``topic<TAB>question`` or ``question`` lines (``#`` comments and blank lines skipped)."""
    out = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        topic, _, question = line.partition("\t") if "\t" in line else ("", "", line)
        out.append((topic.strip(), question.strip()))
    return out
