"""The router: from an utterance (typed, or heard with word confidences) to an intent and
an answer from the article. Pure and data-driven: all phrases and answers come from an
:class:`~voiceskill.intents.IntentSet`; routing keeps no state (see :mod:`voiceskill.dialog`).

Scoring, per intent: the weights of its cues heard in the utterance (each weighted by the
recognizer's confidence in those words), plus a bonus for resembling one of its examples.
Without a subject word ("cramp", "glute") a question must score higher to be answered;
meta commands ("stop", "say that again") lose when the utterance is about something else.
The best score becomes a confidence in [0, 1]; below ``min_confidence`` the reply is the
fallback: intent ``None``, an honest "I can't answer that" that names what can be asked,
and no article fact.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from rapidfuzz import process
from rapidfuzz.distance import OSA

from voiceskill.article import Article, load_article
from voiceskill.errors import ModelError
from voiceskill.intents import (
    STOP_STEMS,
    Intent,
    IntentSet,
    Phrase,
    build_intents,
    builtin_intents_path,
    intents_path_for,
    load_intents,
    section_labels,
)
from voiceskill.lexicon import is_english_word
from voiceskill.settings import RouterConfig
from voiceskill.text import FILLERS, PURPOSE_MARKERS, PURPOSE_SKIP, UNK, stem, words

if TYPE_CHECKING:
    import numpy as np

    from voiceskill.ranker import Evidence, RankerWeights
    from voiceskill.semantic import Embedder, IntentSimilarity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    input: str
    intent: str | None
    answer: str
    confidence: float
    scores: tuple[tuple[str, float], ...] = ()
    """The best few (intent, score) pairs, for logs and tuning."""
    topic_hint: str | None = None
    """For a meta command, the article intent also named confidently ("tell me more about water")."""
    elsewhere: bool = False
    """The utterance names another subject (an ``off_subject`` phrase of the intents: another body
    part, another kind of cramp, an injury), whatever it was routed to."""

    def as_dict(self) -> dict[str, object]:
        return {"input": self.input, "intent": self.intent, "answer": self.answer,
                "confidence": round(self.confidence, 3)}


def _summary(intents: IntentSet) -> str:
    if intents.summary:
        return intents.summary
    labels = section_labels(intents.topics)[:6]
    return ", ".join(labels[:-1]) + (", and " if len(labels) > 1 else "") + labels[-1]


def fallback_text(intents: IntentSet) -> str:
    """The off-topic reply: honest, short, names what can be asked, states no article fact."""
    return (f"Sorry, I can't answer that. I only know about {intents.subject_name}: "
            f"{_summary(intents)}.")


def help_text(intents: IntentSet) -> str:
    return (f"You can ask me about {intents.subject_name}: {_summary(intents)}. "
            "Say 'tell me more' for more, 'say that again' to repeat, or 'stop' to stop me.")


class _Fuzzy:
    """Maps an unknown word to a known one within one edit (two for words of 8+ letters).

    Edits (at most ``max_edits``) are counted as optimal-string-alignment distance (a swap of
    two neighbours is one edit), computed by :mod:`rapidfuzz`, to known words of the same first
    letter; ties go to the longer known word, then the alphabetically first. Four-letter words
    are mapped only by swapping two neighbours; shorter words, or longer than ``MAX_LETTERS``,
    are never mapped.
    """

    MAX_LETTERS = 30
    """Longer unknown words are not spelling-corrected: no word a coach knows is that long."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        # candidates by first letter, in tie-break order: extractOne keeps the first of equally
        # close words. A slip seldom changes the first letter ("footy" is no slip for "booty").
        self._choices: dict[str, list[str]] = {}
        for w in sorted((w for w in known if len(w) >= 4), key=lambda w: (-len(w), w)):
            self._choices.setdefault(w[0], []).append(w)
        self.lookup = lru_cache(maxsize=4096)(self._lookup)

    def _lookup(self, word: str, max_edits: int = 2) -> str | None:
        if word in self.known or not 4 <= len(word) <= self.MAX_LETTERS:
            return None
        if len(word) == 4:  # short words: only two neighbours swapped ("whta")
            swaps = (word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(3))
            return next((w for w in swaps if w in self.known), None)
        best = process.extractOne(word, self._choices.get(word[0], ()), scorer=OSA.distance,
                                  score_cutoff=min(max_edits, 2 if len(word) >= 8 else 1))
        return best[0] if best else None


@lru_cache(maxsize=1024)
def _sentences(answer: str) -> frozenset[str]:
    return frozenset(part.strip() for part in re.split(r"(?<=[.!?])\s+", answer) if part.strip())


def _first_index(phrases: frozenset[Phrase]) -> dict[str, list[Phrase]]:
    """Phrases by their first stem (for :func:`_has_any`)."""
    out: dict[str, list[Phrase]] = {}
    for p in phrases:
        out.setdefault(p[0], []).append(p)
    return out


def _has_any(stems: Sequence[str], first: dict[str, list[Phrase]]) -> bool:
    return any(tuple(stems[i:i + len(p)]) == p for i, s in enumerate(stems) for p in first.get(s, ()))


def _match(stems: Sequence[str], start: int, phrase: Phrase, max_gap: int) -> list[int] | None:
    """Positions of ``phrase`` in ``stems`` starting at ``start``, in order, with at most
    ``max_gap`` other words inside it; None when it is not there."""
    if len(phrase) == 1:
        return [start]
    at = [start]
    gap = 0
    j = start + 1
    for want in phrase[1:]:
        while j < len(stems) and stems[j] != want:
            gap += 1
            j += 1
            if gap > max_gap:
                return None
        if j >= len(stems):
            return None
        at.append(j)
        j += 1
    return at


def _purposes(stems: Sequence[str], content: set[int]) -> list[int]:
    """Positions of the words a question says it is *for* or *about*: the first content word after
    :data:`~voiceskill.text.PURPOSE_MARKERS` (past "a", "my", "me"...): "how much water to lose
    *weight*", "does magnesium help me *sleep*", "a doctor about my *cholesterol*"."""
    out = []
    for i, s in enumerate(stems):
        if s in PURPOSE_MARKERS:
            j = i + 1
            while j < len(stems) and stems[j] in PURPOSE_SKIP:
                j += 1
            if j in content and stems[j] != UNK:
                out.append(j)
    return out


def _closest(sims: Mapping[str, float]) -> tuple[str, float, float] | None:
    """The intent closest in meaning: (name, similarity, lead over the next; its similarity when
    it is the only one), or None without similarities."""
    if not sims:
        return None
    ranked = sorted(sims.items(), key=lambda pair: -pair[1])
    name, best = ranked[0]
    return name, best, best - ranked[1][1] if len(ranked) > 1 else best


_warned: set[str] = set()

MIN_SEMANTIC_EXAMPLES = 3
"""An intent takes part in semantic evidence with at least this many example questions."""


def _semantic_model(config: RouterConfig) -> tuple[Embedder | None, str, Path | None]:
    """The shared semantic model (:func:`voiceskill.semantic.shared_model`) and its cache. A
    model named in ``config.semantic_model`` must load; the default one may be missing (a warning:
    the router then goes by cue words alone)."""
    try:
        from voiceskill import semantic

        model = semantic.shared_model(config.semantic_model)
        return model, model.identity, semantic.cache_dir()
    except (ImportError, ModelError) as e:
        if config.semantic_model:
            raise
        if str(e) not in _warned:
            _warned.add(str(e))
            log.warning("understanding by cue words only: %s", e)
        return None, "", None


def _whole_questions(intents: IntentSet) -> dict[str, list[str]]:
    """The intents with enough whole example questions for semantic evidence, and those questions
    (built intents' examples are pairs of keywords)."""
    questions = {i.name: [q for q in i.questions if len(q.split()) >= 3] for i in intents.topics}
    return {name: qs for name, qs in questions.items() if len(qs) >= MIN_SEMANTIC_EXAMPLES}


MINILM = "all-MiniLM-L6-v2"


def _passage_model(config: RouterConfig) -> tuple[Embedder | None, str, str]:
    """The model that compares questions with built intents' answers (``config.passage_model``):
    (embedder, identity, name), or (None, "", MINILM) for the semantic model. ``auto`` takes
    e5-small-v2 when it is installed (a warning once when it is not); named, it must load."""
    if config.passage_model == MINILM:
        return None, "", MINILM
    try:
        from voiceskill import e5

        model = e5.shared_model()
        return model, model.identity, e5.MODEL_NAME
    except (ImportError, ModelError) as e:
        if config.passage_model != "auto":
            raise
        if str(e) not in _warned:
            _warned.add(str(e))
            log.warning("built answers compared by %s: %s", MINILM, e)
        return None, "", MINILM


class Router:
    """Routes utterances to intents of one article. Immutable after construction."""

    def __init__(self, intents: IntentSet, article: Article, config: RouterConfig | None = None,
                 embedder: Embedder | None = None, *, embedder_id: str = "",
                 cache_dir: Path | None = None, ranker_weights: RankerWeights | None = None,
                 passage_embedder: Embedder | None = None, passage_id: str = "",
                 passage_name: str = MINILM) -> None:
        self.intents = intents
        self.topic_names = frozenset(i.name for i in intents.topics)
        """The article's intents (not the meta commands)."""
        self._said = {i.name: _sentences(i.answer) for i in intents.intents}
        """Each intent's answer as its set of sentences (answers that share one say the same)."""
        self.article = article
        self.config = config or RouterConfig()
        self._similar: IntentSimilarity | None = None
        self._passages: IntentSimilarity | None = None
        self._ranker: RankerWeights | None = None
        self._says: np.ndarray | None = None
        if (embedder is not None or passage_embedder is not None) and self.config.semantic:
            from voiceskill.semantic import IntentSimilarity

            questions = _whole_questions(intents)
            if questions and embedder is not None:
                self._similar = IntentSimilarity(embedder, questions, identity=embedder_id, cache_dir=cache_dir)
            elif not questions and self.config.ranker and intents.topics:
                # no intent has questions of its own (built from an article): cue words and the
                # meaning of each answer's passage are weighed together by the learned ranker
                from voiceskill.ranker import RankerWeights, default_weights_path

                if passage_embedder is None:
                    assert embedder is not None
                    passage_embedder, passage_id, passage_name = embedder, embedder_id, MINILM
                passages = {i.name: [f"{i.label}. {i.answer}"] for i in intents.topics}
                self._passages = IntentSimilarity(passage_embedder, passages, identity=passage_id,
                                                  cache_dir=cache_dir, top=1, passages=True)
                self._ranker = ranker_weights or RankerWeights.load(default_weights_path(passage_name))
                self._says = self._sentences_said(intents.topics)
        self.passage_model = passage_name if self._passages is not None else ""
        self._fallback = fallback_text(intents)
        # cue index: first stem -> [(intent index, phrase, weight)]
        self._cues: dict[str, list[tuple[int, Phrase, float]]] = {}
        for idx, intent in enumerate(intents.intents):
            for phrase, weight in intent.cues.items():
                self._cues.setdefault(phrase[0], []).append((idx, phrase, weight))
        # example index: stem -> [(intent index, example index)], with idf weights
        df: dict[str, int] = {}
        for intent in intents.intents:
            for s in set().union(*intent.examples, *intent.cues):
                df[s] = df.get(s, 0) + 1
        n = len(intents.intents)
        self._idf = {s: math.log(1 + n / c) for s, c in df.items()}
        self._examples: dict[str, list[tuple[int, int]]] = {}
        self._example_mass: list[list[float]] = []
        subject_stems = {p[0] for p in intents.subject if len(p) == 1}
        for idx, intent in enumerate(intents.intents):
            masses = []
            # subject words are in almost every example: they tell intents apart no better than "the"
            for e_idx, example in enumerate(e - subject_stems for e in intent.examples):
                masses.append(sum(self._idf.get(s, 1.0) for s in example) or 1.0)
                for s in example:
                    self._examples.setdefault(s, []).append((idx, e_idx))
            self._example_mass.append(masses)
        subject_words = {w for p in intents.subject for w in p}
        # a cue that counts against an intent explains nothing for it
        self._explains = [frozenset({w for p, weight in intent.cues.items() if weight > 0 for w in p}
                                    | set().union(*intent.examples) | subject_words) for intent in intents.intents]
        self._subject_first = _first_index(intents.subject)
        self._off_subject_first = _first_index(intents.off_subject)
        self._near_subject_first = _first_index(intents.near_subject)
        self._focus_first = _first_index(intents.focus)
        known = set(self._cues) | set(self._examples) | {s for p in intents.subject for s in p}
        known |= {stem(w) for w in intents.vocabulary}
        self._fuzzy = _Fuzzy(known | set(intents.vocabulary)) if self.config.fuzzy else None  # stems and words
        self._known = known

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def load(cls, article: str | Path | None = None, intents: str | Path | None = None,
             config: RouterConfig | None = None, embedder: Embedder | None = None, *,
             embedder_id: str = "", cache_dir: Path | None = None,
             ranker_weights: RankerWeights | None = None, passage_embedder: Embedder | None = None,
             passage_name: str = MINILM) -> Router:
        """Router for an article file (None: the built-in article) and its intents.

        The intents file defaults to ``ARTICLE.intents.toml`` beside the article; without one,
        intents are built from the article's own sections and sentences, and their answers are
        compared with questions by ``config.passage_model`` (or ``passage_embedder``, whose
        ranker weights are ``passage_name``'s).
        """
        art = load_article(article)
        if intents is not None:
            intent_set = load_intents(Path(intents), art)
        elif article is None:
            intent_set = load_intents(builtin_intents_path("glute-cramps.intents.toml"), art)
        elif intents_path_for(Path(article)).exists():
            intent_set = load_intents(intents_path_for(Path(article)), art)
        else:
            log.info("no intents file for %s: building intents from its sections", article)
            intent_set = build_intents(art)
        log.debug("router: %d intents from %s", len(intent_set.intents), intent_set.source)
        config = config or RouterConfig()
        # an injected embedder (tests) also compares the passages unless one is injected for that
        passage: tuple[Embedder | None, str, str] = (passage_embedder, passage_name, passage_name)
        if embedder is None and passage_embedder is None and config.semantic and config.ranker \
                and not _whole_questions(intent_set):
            passage = _passage_model(config)
        if passage[0] is None and embedder is None and config.semantic:
            embedder, embedder_id, cache_dir = _semantic_model(config)
        elif passage[0] is not None and cache_dir is None:  # (the sentence model would compare nothing)
            from voiceskill import semantic

            cache_dir = semantic.cache_dir()
        return cls(intent_set, art, config, embedder, embedder_id=embedder_id, cache_dir=cache_dir,
                   ranker_weights=ranker_weights, passage_embedder=passage[0], passage_id=passage[1],
                   passage_name=passage[2])

    # -- queries --------------------------------------------------------------------------------
    def vocabulary(self) -> frozenset[str]:
        """Every word the router knows: article, intents, meta commands (for a recognizer grammar)."""
        return self.intents.vocabulary

    def phrasings(self) -> tuple[str, ...]:
        """Whole phrasings people use (examples, multi-word cues): a recognizer grammar that
        includes them prefers these word sequences in noise."""
        return self.intents.phrasings

    def answers(self) -> list[str]:
        """Every text the router can reply with (for speech synthesis ahead of time)."""
        texts = [self._fallback, help_text(self.intents)]
        for intent in self.intents.topics:
            texts.append(intent.answer)
            texts.extend(intent.more)
        return list(dict.fromkeys(t for t in texts if t))

    @property
    def fallback(self) -> str:
        return self._fallback

    def help(self) -> str:
        return help_text(self.intents)

    def _read(self, text: str, confidences: Sequence[float] | None) -> tuple[list[str], list[float], int, str]:
        """Normalized stems with a confidence each, how many words were not heard, and the words
        heard as one text, typing slips corrected (for the semantic model, which would read a
        slip as another word)."""
        tokens = text.split()
        if confidences is not None and len(confidences) == len(tokens):
            # a recognizer's words one by one, each with its confidence ("doesn't" -> does, not)
            pairs = [(w, c) for token, c in zip(tokens, confidences) for w in words(token)]
            raw, confs = [w for w, _ in pairs], [c for _, c in pairs]
        else:
            raw = words(text)
            confs = [1.0] * len(raw)
        # spelling correction is for typed text: a recognizer writes real words (a grammar's words)
        fuzzy = self._fuzzy if confidences is None else None
        stems: list[str] = []
        out_conf: list[float] = []
        heard: list[str] = []
        unheard = 0
        for word, conf in zip(raw, confs):
            if word == UNK or conf < self.config.min_word_confidence:
                unheard += word not in FILLERS
                if word not in FILLERS:
                    stems.append(UNK)
                    out_conf.append(0.0)
                continue
            if word in FILLERS:
                heard.append(word)
                continue
            s = stem(word)
            if s not in self._known and fuzzy is not None and s not in self.intents.lexicon:
                fixed = self._correct(word, s, fuzzy)
                if fixed != s:
                    s, word = fixed, fixed
            heard.append(word)
            for part in self.intents.lexicon.get(s, (s,)):
                stems.append(part)
                out_conf.append(conf)
        return stems, out_conf, unheard, " ".join(heard)

    def _correct(self, word: str, s: str, fuzzy: _Fuzzy) -> str:
        """A typed word the router does not know, as the known stem it was meant to be: dropped
        g ("drinkin"), a typo of a known word ("stretchign", "shoudl") or of a known stem. A real
        English word (WordNet's) is taken as written: "single" is not a slip for "tingle"."""
        if is_english_word(word):
            return s
        if word.endswith("in") and stem(word + "g") in self._known:
            return stem(word + "g")
        fixed = fuzzy.lookup(word, 1)  # a whole word one edit off: "stretchign", "shoudl"
        if fixed is not None and (stem(fixed) in self._known or stem(fixed) in self.intents.lexicon):
            return stem(fixed)
        return fuzzy.lookup(s) or s

    def score(self, text: str, confidences: Sequence[float] | None = None) -> list[tuple[float, Intent]]:
        """All intents' scores for an utterance, best first (for tuning and tests)."""
        stems, confs, unheard, _ = self._read(text, confidences)
        return self._score(stems, confs, unheard, typed=confidences is None)

    def _subject(self, stems: Sequence[str], confs: Sequence[float]) -> tuple[bool, bool]:
        """(names the article's subject, names another one): "stomach cramps", "my hamstring"
        are not the article's subject."""
        sure = [s if c >= self.config.min_subject_confidence else UNK for s, c in zip(stems, confs)]
        off_subject = _has_any(stems, self._off_subject_first) or (
            _has_any(stems, self._near_subject_first) and not _has_any(stems, self._focus_first))
        return _has_any(sure, self._subject_first) and not off_subject, off_subject

    def _score(self, stems: list[str], confs: list[float], unheard: int, typed: bool,
               subject: tuple[bool, bool] | None = None) -> list[tuple[float, Intent]]:
        """Every intent's score, best first; ``subject`` is :meth:`_subject` of the stems when the
        caller has it already."""
        cfg = self.config
        intents = self.intents.intents
        n = len(intents)
        cue_score = [0.0] * n
        covered: list[set[int]] = [set() for _ in range(n)]
        seen: set[tuple[int, Phrase]] = set()
        for i, s in enumerate(stems):
            for idx, phrase, weight in self._cues.get(s, ()):
                if (idx, phrase) in seen:
                    continue
                at = _match(stems, i, phrase, self.config.max_phrase_gap)
                if at is not None:
                    seen.add((idx, phrase))
                    gap = at[-1] - at[0] + 1 - len(at)
                    cue_score[idx] += (weight * (1.0 - cfg.confidence_weight * (1.0 - min(confs[j] for j in at)))
                                       * (1.0 - cfg.phrase_gap_discount * gap))
                    covered[idx].update(at)
        present = set(stems)
        # example resemblance: share of the example's idf mass that was heard
        overlap: dict[tuple[int, int], tuple[float, int]] = {}
        for s in present:
            for key in self._examples.get(s, ()):
                mass, count = overlap.get(key, (0.0, 0))
                overlap[key] = (mass + self._idf.get(s, 1.0), count + 1)
        best_example = [0.0] * n
        for (idx, e_idx), (mass, count) in overlap.items():
            # one shared word is weak evidence, however rare: full credit needs two
            share = (mass / self._example_mass[idx][e_idx]) ** 2 * min(1.0, count / 2)
            best_example[idx] = max(best_example[idx], share)
        has_subject, off_subject = subject or self._subject(stems, confs)
        # a typed off-subject word is what was meant ("foot cramp right now", "i strained my glute");
        # a heard one may be a mishearing ("mentioned" heard as "menstrual")
        elsewhere = typed and _has_any(stems, self._off_subject_first) and (
            self.intents.off_subject_final
            or (self.intents.off_subject_alone_final and not _has_any(stems, self._subject_first)))
        content_set = {i for i, s in enumerate(stems) if s not in STOP_STEMS}
        purpose = _purposes(stems, content_set) if not has_subject else []
        content_stems = [stems[i] for i in content_set if stems[i] != UNK]
        heard = max(1, len(stems))
        unheard_share = unheard / heard
        scored: list[tuple[float, Intent]] = []
        for idx, intent in enumerate(intents):
            if intent.needs and not (intent.needs & present):
                continue
            if elsewhere and not intent.meta:
                continue  # clearly about something else: no article answer
            score = cue_score[idx] + cfg.example_weight * best_example[idx]
            if score <= 0:
                continue
            if intent.meta:
                # a command is the whole utterance: every word outside it argues against it
                uncovered = sum(1.0 if i in content_set else 0.5 for i in range(len(stems))
                                if i not in covered[idx] and stems[i] != UNK)
                score -= cfg.meta_uncovered_penalty * uncovered
                if has_subject or off_subject:
                    score -= cfg.meta_subject_penalty
            else:
                if content_stems:
                    unexplained = sum(st not in self._explains[idx] for st in content_stems)
                    factor = 1.0 if has_subject else cfg.unexplained_off_subject
                    score -= cfg.unexplained_penalty * factor * unexplained / len(content_stems)
                    score -= cfg.purpose_penalty * sum(stems[j] not in self._explains[idx] for j in purpose)
                if has_subject:
                    score += cfg.subject_bonus
                else:
                    score -= cfg.off_subject_penalty
                    if off_subject:
                        score -= cfg.other_subject_penalty
            score -= cfg.unknown_penalty * unheard_share
            scored.append((score, intent))
        scored.sort(key=lambda pair: -pair[0])
        return scored

    def meaning(self, text: str, confidences: Sequence[float] | None = None) -> Mapping[str, float] | None:
        """How close in meaning an utterance is to each intent's example questions (0..1), or
        None when the router has no such evidence (built intents, or no semantic model)."""
        if self._similar is None:
            return None
        return self._similar(self._read(text, confidences)[3])

    def answer(self, name: str) -> str:
        """The answer of the intent ``name``."""
        return self.intents.by_name(name).answer

    def shares_sentence(self, a: str, b: str) -> bool:
        """Whether the answers of intents ``a`` and ``b`` say a sentence in common."""
        return bool(self._said[a] & self._said[b])

    def confidence(self, score: float) -> float:
        return 1.0 - 2.0 ** (-max(score, 0.0) / self.config.score_at_half_confidence)

    def _rival(self, scored: list[tuple[float, Intent]]) -> float:
        """The best score of an article intent that would say something else than the top one
        (no sentence of its answer in the top one's, nor the other way round)."""
        top = scored[0][1].name
        return max((max(s, 0.0) for s, i in scored[1:] if not i.meta and not self.shares_sentence(top, i.name)),
                   default=0.0)

    def prime(self, utterances: Sequence[tuple[str, Sequence[float] | None]]) -> None:
        """Prepare to route these utterances (text, confidences): their semantic evidence is
        computed in one batch (the passes' hypotheses of one question). Routing is the same
        with or without it, only faster."""
        for similar in (self._similar, self._passages):
            if similar is not None:
                similar.prime([self._read(text, confs)[3] for text, confs in utterances])

    def route(self, text: str, confidences: Sequence[float] | None = None) -> Reply:
        """The intent and answer for one utterance; the fallback reply below ``min_confidence``.

        ``confidences`` are the recognizer's per-word confidences, aligned with the words of
        ``text`` (which may contain ``[unk]``). Meta intents come back with an empty answer:
        the dialog decides what they say.
        """
        stems, confs, unheard, heard = self._read(text, confidences)
        on_subject, elsewhere = self._subject(stems, confs)
        scored = self._score(stems, confs, unheard, typed=confidences is None, subject=(on_subject, elsewhere))
        top = tuple((i.name, round(s, 2)) for s, i in scored[:3])
        if not scored:
            return Reply(text, None, self._fallback, 0.0, top, elsewhere=elsewhere)
        score, intent = scored[0]
        if self._ranker is not None and not intent.meta:
            return self._ranked(text, heard, scored, on_subject, elsewhere, top)
        conf = self.confidence(score)
        lead = score - self._rival(scored)  # over the best answer that says other sentences
        too_close = not intent.meta and lead < self.config.min_margin
        answered = conf >= self.config.min_confidence and not too_close
        if self._similar is not None and (not answered or not intent.meta):
            sims = self._similar(heard)
            veto = self.config.semantic_veto if confidences is None else self.config.semantic_veto_heard
            rescued = None
            # typed words that leave no doubt: in speech a misheard word can carry a cue
            decisive = (confidences is None and on_subject and self.config.veto_overruled_lead > 0
                        and lead >= self.config.veto_overruled_lead)
            if answered and not decisive and self._vetoed(intent, sims, veto):
                log.debug("semantic veto of %s: %s", intent.name, sorted(sims.items(), key=lambda p: -p[1])[:2])
                answered = False
                # the cues' runner-up may take over when it is the one clearly closest in meaning
                # (by the typed-text margin, also for speech)
                if self.config.semantic_switch and on_subject:
                    rescued = self._rescued(scored[1:2], sims)
                    if rescued and sims[rescued[1].name] - sims.get(intent.name, 0.0) <= self.config.semantic_veto:
                        rescued = None
            elif not answered and not too_close and on_subject:
                rescued = self._rescued(scored, sims)
                # typed: the cue words nearly sure, and the meaning puts the same answer first
                agreed = (rescued is None and confidences is None and not intent.meta
                          and conf >= self.config.agree_min_confidence and self._agrees(intent, sims))
                answered = answered or agreed
            if rescued is not None:
                score, intent = rescued
                conf = self.confidence(score + self.config.semantic_bonus)
                answered = conf >= self.config.min_confidence
        if not answered:
            return Reply(text, None, self._fallback, conf, top, elsewhere=elsewhere)
        hint = None
        if intent.meta:
            topics = [(s, i) for s, i in scored if not i.meta]
            if topics and self.confidence(topics[0][0]) >= self.config.min_confidence:
                hint = topics[0][1].name
        return Reply(text, intent.name, "" if intent.meta else intent.answer, conf, top, hint, elsewhere)

    def _sentences_said(self, topics: Sequence[Intent]) -> np.ndarray:
        """``[i, s]`` is 1 when intent i's answer says sentence s (of all the answers' sentences)."""
        import numpy as np

        said = [self._said[i.name] for i in topics]
        every = sorted(set().union(*said))
        return np.array([[1.0 if s in mine else 0.0 for s in every] for mine in said])

    def ranking_inputs(self, text: str, confidences: Sequence[float] | None = None) -> Evidence | None:
        """What the learned ranker weighs for an utterance, or None when it would not be asked
        (no ranker, no article intent scored, or a meta command first)."""
        if self._passages is None:
            return None
        stems, confs, unheard, heard = self._read(text, confidences)
        on_subject, elsewhere = self._subject(stems, confs)
        scored = self._score(stems, confs, unheard, typed=confidences is None, subject=(on_subject, elsewhere))
        if not scored or scored[0][1].meta:
            return None
        return self._evidence(heard, scored, on_subject)

    def _evidence(self, heard: str, scored: list[tuple[float, Intent]], on_subject: bool) -> Evidence:
        from voiceskill.ranker import Evidence

        assert self._passages is not None
        return Evidence([i.name for i in self.intents.topics], {i.name: s for s, i in scored if not i.meta},
                        self._passages(heard), on_subject)

    def _ranked(self, text: str, heard: str, scored: list[tuple[float, Intent]], on_subject: bool,
                elsewhere: bool, top: tuple[tuple[str, float], ...]) -> Reply:
        """The reply the learned ranker chooses (see :mod:`voiceskill.ranker`)."""
        from voiceskill.ranker import choose

        assert self._ranker is not None and self._says is not None
        choice = choose(self._ranker, self._evidence(heard, scored, on_subject), self._says)
        threshold = self.config.ranker_min_confidence or self._ranker.min_confidence
        if choice is None or choice.confidence < threshold:
            return Reply(text, None, self._fallback, choice.confidence if choice else 0.0, top, elsewhere=elsewhere)
        return Reply(text, choice.name, self.intents.by_name(choice.name).answer, choice.confidence, top,
                     elsewhere=elsewhere)

    def _vetoed(self, intent: Intent, sims: Mapping[str, float], veto: float) -> bool:
        """Whether the answer is far in meaning from the question, or another intent (saying
        other sentences) is clearly closer."""
        if not sims or intent.name not in sims:
            return False
        if sims[intent.name] < self.config.semantic_floor:
            return True  # far in meaning from every way of asking for this answer
        best = max(sims, key=lambda name: sims[name])
        if best == intent.name or sims[best] - sims[intent.name] <= veto:
            return False
        return not self.shares_sentence(best, intent.name)

    def _agrees(self, intent: Intent, sims: Mapping[str, float]) -> bool:
        """Whether ``intent`` is the one closest in meaning (at least ``semantic_floor``, ahead of
        the next by ``agree_margin``)."""
        closest = _closest(sims)
        return (closest is not None and closest[0] == intent.name and closest[1] >= self.config.semantic_floor
                and closest[2] >= self.config.agree_margin)

    def _rescued(self, scored: list[tuple[float, Intent]], sims: Mapping[str, float]) -> tuple[float, Intent] | None:
        """The intent a question on the subject that the cues left unsure is closest to in
        meaning, when it clearly leads the others in meaning (its cue score, to which the
        caller adds ``semantic_bonus``); else None."""
        closest = _closest(sims)
        if closest is None:
            return None
        name, best, lead = closest
        if best < self.config.semantic_rescue or lead < self.config.semantic_margin:
            return None
        return next(((s, i) for s, i in scored if i.name == name), None)
