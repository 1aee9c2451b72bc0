"""Intent data: load a curated intents file (TOML, beside the article) or build intents from
an article's own sections and sentences.

An :class:`IntentSet` is pure data. Every phrase in it (cues, examples, lexicon) is kept in
*normalized* form: tuples of stems from :func:`voiceskill.text.tokens` and
:func:`voiceskill.text.stem`, mapped through the lexicon, so the router only compares tuples.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from voiceskill.article import Article, read_text
from voiceskill.errors import IntentsError
from voiceskill.text import STOP_STEMS, stem, tokens, words

log = logging.getLogger(__name__)

META_INTENTS = ("repeat", "more", "stop", "help")

Phrase = tuple[str, ...]


@dataclass(frozen=True)
class Intent:
    name: str
    label: str
    """How help and fallback replies name this intent (no article facts in it)."""
    cues: Mapping[Phrase, float]
    """Normalized phrase -> weight added to the score when the phrase is heard."""
    needs: frozenset[str]
    """At least one of these stems must be heard for the intent to be chosen (empty: none needed)."""
    examples: tuple[frozenset[str], ...]
    """Content stems of example phrasings."""
    answer: str
    more: tuple[str, ...] = ()
    meta: bool = False
    questions: tuple[str, ...] = ()
    """The example phrasings as written (for :mod:`voiceskill.semantic`)."""


@dataclass(frozen=True)
class IntentSet:
    intents: tuple[Intent, ...]
    lexicon: Mapping[str, Phrase]
    """Stem -> replacement stems (slang and misrecognitions to the words cues use)."""
    subject: frozenset[Phrase]
    """Phrases that show a question is about the article's subject."""
    subject_name: str
    off_subject: frozenset[Phrase] = field(default=frozenset())
    """Phrases that show a question is about something else (another body part, another cramp)."""
    near_subject: frozenset[Phrase] = field(default=frozenset())
    """Phrases naming other things of the subject's kind (other body parts): a question naming one
    is about something else unless it also names one of ``focus`` ("a cramp in my hand" is not
    about glutes; "a knot in my glute I can feel with my hand" is)."""
    focus: frozenset[Phrase] = field(default=frozenset())
    """The subject phrases that name the subject's thing itself (the glutes, not the cramp)."""
    off_subject_final: bool = False
    """A typed question naming an ``off_subject`` phrase gets no answer (a curator's list says what
    is not the subject; in speech the phrase may be a mishearing, and a built list a guess, so
    there it only counts against the answers)."""
    off_subject_alone_final: bool = False
    """A typed question naming an ``off_subject`` phrase and no ``subject`` phrase gets no answer
    ("should I see a doctor about my knee" from an article on glutes): for built intents, whose
    off-subject words are a guess, a question naming the subject as well still counts them only
    against the answers."""
    summary: str = ""
    """What can be asked, in a few words free of article facts (help and fallback replies)."""
    vocabulary: frozenset[str] = field(default=frozenset())
    """Every surface word the intents and the article know (for the recognizer's grammar)."""
    phrasings: tuple[str, ...] = ()
    """Example questions and multi-word cues as written (for the recognizer's grammar)."""
    source: str = ""

    def __post_init__(self) -> None:
        names = [i.name for i in self.intents]
        if len(names) != len(set(names)):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise IntentsError(f"intents of {self.source or 'an intent set'} share names: {', '.join(dup)} "
                               f"(every intent needs its own name)")

    @cached_property
    def _named(self) -> dict[str, Intent]:
        return {intent.name: intent for intent in self.intents}

    def by_name(self, name: str) -> Intent:
        return self._named[name]  # KeyError(name) for a name no intent has

    @property
    def topics(self) -> tuple[Intent, ...]:
        return tuple(i for i in self.intents if not i.meta)


def normalize(text: str, lexicon: Mapping[str, Phrase]) -> Phrase:
    """Text -> tuple of stems with the lexicon applied (fillers dropped)."""
    out: list[str] = []
    for word in tokens(text):
        s = stem(word)
        out.extend(lexicon.get(s, (s,)))
    return tuple(out)


def builtin_intents_path(name: str) -> Path:
    return Path(str(resources.files("voiceskill") / "data" / name))


def intents_path_for(article_path: Path) -> Path:
    """Where the curated intents for an article live: ``NAME.intents.toml`` beside ``NAME.txt``."""
    return article_path.with_name(article_path.stem + ".intents.toml")


def _parse_toml(path: Path) -> dict[str, Any]:
    text = read_text(path, what="intents")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise IntentsError(f"intents file {path}: {exc}") from None


def _lexicon(table: Mapping[str, Any], path: Path) -> dict[str, Phrase]:
    lexicon: dict[str, Phrase] = {}
    for key, value in table.items():
        if not isinstance(value, str) or not value.strip():
            raise IntentsError(f"intents file {path}: lexicon.{key} must be a non-empty string")
        lexicon[stem(key.lower())] = tuple(stem(w) for w in tokens(value))
    return lexicon


def _sentence_key(text: str) -> str:
    return " ".join(words(text))


def _check_from_article(text: str, article: Article, where: str) -> None:
    """Every answer must be article text: each of its sentences a part of an article sentence."""
    article_keys = [_sentence_key(s.text) for s in article.sentences]
    for piece in re.split(r"(?<=[.!?])\s+", text.strip()):
        key = _sentence_key(piece)
        if key and not any(key in a for a in article_keys):
            raise IntentsError(f"{where}: answer text is not in the article: {piece!r} "
                               f"(answers must quote the article)")


def _intent(raw: Mapping[str, Any], lexicon: Mapping[str, Phrase], where: str, meta: bool,
            article: Article | None) -> Intent:
    known = {"name", "label", "cues", "needs", "examples", "paraphrases", "answer", "more"}
    unknown = set(raw) - known
    if unknown:
        raise IntentsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                           f"(known: {', '.join(sorted(known))})")
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise IntentsError(f"{where}: every intent needs a `name` of lower-case letters, digits, _ or -")
    cues: dict[Phrase, float] = {}
    for phrase, weight in dict(raw.get("cues", {})).items():
        if not isinstance(weight, (int, float)) or isinstance(weight, bool):
            raise IntentsError(f"{where}: cue {phrase!r} of intent {name} needs a number weight")
        key = normalize(phrase, lexicon)
        if key:
            cues[key] = float(weight) if key not in cues else max(cues[key], float(weight))
    examples = tuple(frozenset(s for s in normalize(e, lexicon) if s not in STOP_STEMS)
                     for e in raw.get("examples", []))
    needs = frozenset(s for n in raw.get("needs", []) for s in normalize(n, lexicon))
    answer = raw.get("answer", "")
    more = raw.get("more", [])
    if not meta:
        if not isinstance(answer, str) or not answer.strip():
            raise IntentsError(f"{where}: intent {name} needs an `answer`")
        if not isinstance(more, list) or not all(isinstance(m, str) for m in more):
            raise IntentsError(f"{where}: `more` of intent {name} must be a list of strings")
        if article is not None:
            for text in [answer, *more]:
                _check_from_article(text, article, f"{where} ({name})")
    if not cues and not examples:
        raise IntentsError(f"{where}: intent {name} has neither cues nor examples")
    label = raw.get("label", name.replace("_", " "))
    return Intent(name=name, label=str(label), cues=cues, needs=needs, examples=examples,
                  answer=" ".join(answer.split()), more=tuple(" ".join(m.split()) for m in more),
                  meta=meta, questions=_questions(raw, where))


def _questions(raw: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """An intent's example questions and its paraphrases, as written (for the semantic stage)."""
    paraphrases = raw.get("paraphrases", [])
    if not isinstance(paraphrases, list) or not all(isinstance(p, str) for p in paraphrases):
        raise IntentsError(f"{where}: `paraphrases` of intent {raw.get('name')} must be a list of strings")
    return tuple(" ".join(str(q).split()) for q in [*raw.get("examples", []), *paraphrases])


def _load_meta(lexicon: Mapping[str, Phrase]) -> tuple[list[Intent], set[str], tuple[str, ...]]:
    """The meta commands (read once per intents file): intents, their words, their phrasings."""
    path = builtin_intents_path("meta.intents.toml")
    data = _parse_toml(path)
    intents = [_intent(raw, lexicon, f"{path} intent {i + 1}", meta=True, article=None)
               for i, raw in enumerate(data.get("intent", []))]
    return intents, _surface_words(data), _phrasings(data.get("intent", []))


_NOT_HEARD = frozenset({"paraphrases", "near_subject", "focus", "off_subject_final", "off_subject_alone_final"})
"""Keys whose words stay out of the recognizer's grammar: an intent's paraphrases are for the
semantic stage only, and the many names of other body parts only tell a question that was heard
apart; every word in the grammar is one more that noise can be heard as."""


def _surface_words(data: Any) -> set[str]:
    """All words appearing anywhere in a parsed TOML document (keys and string values), but
    those under :data:`_NOT_HEARD` keys."""
    found: set[str] = set()
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key in _NOT_HEARD:
                continue
            found.update(words(str(key)))
            found |= _surface_words(value)
    elif isinstance(data, list):
        for value in data:
            found |= _surface_words(value)
    elif isinstance(data, str):
        found.update(words(data))
    return found


def load_intents(path: Path, article: Article) -> IntentSet:
    """Load a curated intents file for ``article`` (answers are checked against the article)."""
    return intents_from_data(_parse_toml(path), article, f"intents file {path}", str(path))


def intents_from_data(data: Mapping[str, Any], article: Article, where: str, source: str) -> IntentSet:
    """An IntentSet from the parsed contents of an intents file (``where`` names it in errors)."""
    unknown = set(data) - {"router", "lexicon", "intent"}
    if unknown:
        raise IntentsError(f"{where}: unknown section(s) {', '.join(sorted(unknown))}")
    path = Path(source)
    lexicon = _lexicon(data.get("lexicon", {}), path)
    router = data.get("router", {})
    topics = [_intent(raw, lexicon, f"{where} intent {i + 1}", meta=False, article=article)
              for i, raw in enumerate(data.get("intent", []))]
    if not topics:
        raise IntentsError(f"{where} defines no [[intent]]")
    names = [t.name for t in topics]
    clash = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(META_INTENTS)))
    if clash:
        raise IntentsError(f"{where}: duplicate or reserved intent name(s): {', '.join(clash)}")
    meta, meta_words, meta_phrasings = _load_meta(lexicon)
    phrasings = _phrasings(data.get("intent", [])) + meta_phrasings
    subject = frozenset(normalize(s, lexicon) for s in router.get("subject", [])) - {()}
    off_subject, near_subject, focus = (frozenset(normalize(s, lexicon) for s in router.get(key, [])) - {()}
                                        for key in ("off_subject", "near_subject", "focus"))
    if near_subject and not focus:
        raise IntentsError(f"{where}: [router] near_subject needs `focus`, the subject words that name the thing "
                           f"itself")
    vocabulary = _surface_words(data) | meta_words | _article_words(article)
    return IntentSet(intents=tuple(topics + meta), lexicon=lexicon, subject=subject,
                     subject_name=str(router.get("subject_name", article.title)), off_subject=off_subject,
                     near_subject=near_subject, focus=focus,
                     off_subject_final=_flag(router, "off_subject_final", where),
                     off_subject_alone_final=_flag(router, "off_subject_alone_final", where),
                     summary=str(router.get("summary", "")), vocabulary=frozenset(vocabulary),
                     phrasings=phrasings, source=source)


def _phrasings(raw_intents: list[Any]) -> tuple[str, ...]:
    """Examples and multi-word cues, as written, without duplicates."""
    out: dict[str, None] = {}
    for raw in raw_intents:
        for example in raw.get("examples", []):
            out[" ".join(words(example))] = None
        for cue, weight in dict(raw.get("cues", {})).items():
            if len(cue.split()) > 1 and isinstance(weight, (int, float)) and weight > 0:
                out[" ".join(words(cue))] = None
    return tuple(out)


def _flag(table: Mapping[str, Any], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise IntentsError(f"{where}: [router] {key} must be true or false")
    return value


def _article_words(article: Article) -> set[str]:
    return {w for s in article.sentences for w in words(s.text)} | set(words(article.title)) | {
        w for sec in article.sections for w in words(sec.heading)}


def build_intents(article: Article, wordnet: Any = None, config: Any = None,
                  cache_dir: Path | None = None) -> IntentSet:
    """Intents made from the article itself, for articles without a curated intents file.

    One intent per sentence, each with a unique name; see :mod:`voiceskill.builder`. Synonyms
    and off-subject words come from WordNet (``wordnet``: an open
    :class:`voiceskill.lexicon.WordNet`; None opens the installed one, and without one the
    intents are built without synonyms). Reading WordNet takes seconds, so what is built with
    the installed WordNet is kept in ``cache_dir`` (default: the user cache dir), keyed by the
    article's text, the settings and the builder's own code.
    """
    from voiceskill.builder import draft_intents
    from voiceskill.lexicon import WordNet, wordnet_available

    where, source = f"intents built from {article.source}", f"built from {article.source}"
    if wordnet is not None:
        return intents_from_data(draft_intents(article, wordnet, config).as_data(), article, where, source)
    if not wordnet_available():
        log.warning("WordNet is not installed (Debian package wordnet-base): intents for %s are "
                    "built without synonyms", article.source)
        return intents_from_data(draft_intents(article, None, config).as_data(), article, where, source)
    cache = _built_cache_path(article, config, cache_dir)
    data = _read_cached(cache)
    if data is None:
        with WordNet() as wn:
            data = draft_intents(article, wn, config).as_data()
        _write_cached(cache, data)
    return intents_from_data(data, article, where, source)


def _built_cache_path(article: Article, config: Any, cache_dir: Path | None) -> Path:
    import hashlib

    import platformdirs

    from voiceskill import builder, lexicon
    digest = hashlib.sha256()
    for part in (Path(builder.__file__).read_bytes(), Path(lexicon.__file__).read_bytes(),
                 repr(config).encode(), str(lexicon.wordnet_dir()).encode(), article.title.encode()):
        digest.update(part + b"\0")
    for section in article.sections:
        digest.update(section.heading.encode() + b"\0" + section.text.encode() + b"\0")
    root = cache_dir or Path(platformdirs.user_cache_dir("voiceskill")) / "built-intents"
    return root / f"{digest.hexdigest()[:32]}.json"


def _read_cached(path: Path) -> dict[str, Any] | None:
    import json
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_cached(path: Path, data: Mapping[str, Any]) -> None:
    import json
    import os
    import tempfile
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".built-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("cannot keep built intents in %s (%s): they are built again next time", path.parent,
                    exc.strerror)


def section_labels(intents: Iterable[Intent]) -> list[str]:
    """Distinct labels of topic intents, in order."""
    seen: list[str] = []
    for intent in intents:
        if not intent.meta and intent.label not in seen:
            seen.append(intent.label)
    return seen
