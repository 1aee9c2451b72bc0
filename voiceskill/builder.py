"""Intents built from an article that has no curated intents file.

Every sentence of the article becomes one intent with a unique name (``SECTION-N``): its
answer is a passage, the sentence and the one after it (and the one before when it starts with
"This…"), and "tell me more" walks on through the rest of its section.
What makes a question match a sentence is all data the router already understands:

- cues: the sentence's content words, weighted by how specific they are to it within the
  article (inverse document frequency over its sentences), adjacent word pairs ("blood
  supply") as phrase cues, the section heading's words, the words of the rest of its answer
  and, lighter, of the rest of its section;
- question types (voiceskill.lexicon): why -> sentences that give causes, how much ->
  quantities, how do I prevent -> sentences that prevent, what should I do -> advice,
  should I see someone -> professional help, ... read from the whole answer and from the
  section's heading ("Causes of ..."). A question of a type the answer is not of counts
  against it (negative cues); a type no sentence answers counts against none;
- needs: at least one of the sentence's (or heading's) content words must be heard, so a
  question word alone ("why") never answers;
- examples: the sentence's two most specific words together;
- lexicon: WordNet synonyms of the article's words, the words WordNet derives from them and
  the names of kinds of what they name, mapped to them ("physician" -> "doctor", "daily" ->
  "day", "squat" -> "exercise", "bum" -> "glute" through the body part a muscle belongs to);
- subject: the words of the title and of several headings (what the article is about), and
  off_subject: common names of other things of the subject's kind (other body parts), so
  "my knee hurts" is not answered from an article on glutes.

The result is a :class:`Draft` (surface words, what ``voiceskill intents draft`` writes as
TOML); :func:`voiceskill.intents.intents_from_data` turns it into an IntentSet exactly as it
would the written file, so built and drafted intents route the same.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from voiceskill.article import Article, Sentence
from voiceskill.lexicon import (
    CONCRETE_CLASSES,
    QUESTION_TYPES,
    QuestionType,
    WordNet,
    heading_types_of,
    question_types_of,
)
from voiceskill.text import FILLERS, STOPWORDS, stem, tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildConfig:
    cue_base: float = 1.0
    """Weight of a content word found in every sentence (before the specificity part)."""
    cue_span: float = 2.5
    """Weight added for a word found in one sentence only (in proportion for words in more)."""
    subject_cue: float = 0.3
    """Weight of subject words ("glute", "cramp"): the router's subject bonus does the rest."""
    heading_cue: float = 1.5
    """Weight of a section heading's words for every sentence of the section."""
    lead_bonus: float = 0.33
    """The heading's words weigh this much more for a section's first sentence (it leads in)."""
    measure_weight: float = 0.5
    """Numbers and units of measurement weigh this much of other words."""
    adverb_weight: float = 0.5
    """Words used mostly as adverbs weigh this much of other words."""
    summary_overlap: int = 2
    """Words a summary sentence must share with a later one to be merged into it..."""
    summary_share: float = 0.4
    """...and the share of its words (subject words aside) they must be."""
    summary_weight: float = 0.5
    """Cues a merged summary sentence brings that the later sentence lacks weigh this share (the
    summary names more than the sentence it sums up answers)."""
    heading_examples: bool = True
    """Also an example of a heading word with each of the sentence's two most specific words."""
    pair_cue: float = 1.5
    """Weight of two adjacent content words heard together ("blood supply")."""
    question_type_scale: float = 1.5
    """Scales the question-type cues of voiceskill.lexicon.QUESTION_TYPES."""
    subject_share: float = 0.4
    """A word in at least this share of the sentences is a subject word."""
    synonym_senses: int = 2
    """How many of a word's most frequent WordNet senses give synonyms."""
    synonym_share: float = 0.3
    """A synonym must be used in the shared sense at least this share of the times WordNet's
    sense-tagged corpus saw it as that part of speech ("set" is "put" a quarter of the time:
    no synonym of "position")."""
    derived_forms: bool = True
    """Words WordNet derives from an article word ("daily" from "day") are asked about with it."""
    prefixes: tuple[str, ...] = ("de", "dis", "over", "under", "un", "in", "im", "non", "re", "mis")
    """A word with one of these prefixes that WordNet knows, when its definition names something
    the article says next to the unprefixed word, is asked about with it ("dehydrated")."""
    kinds_depth: int = 2
    """Names of kinds of what an article noun names, this many levels down in WordNet ("squat"
    is an exercise, "surgeon" a doctor), are asked about with the noun."""
    sentences_after: int = 1
    """Sentences after the one that matched that are part of the answer."""
    more_sentences: int = 2
    """Sentences per "tell me more"."""
    off_subject_min_count: int = 1
    """Off-subject words must be this common (WordNet sense-tagged corpus counts)."""
    typo_min_count: int = 10
    """No off-subject word is one letter away from a word at least this common that a typed
    question's spelling correction could turn into it ("first" -> "fist")."""
    away_from_heading: float = 0.5
    """A word of one section's heading weighs this much less in the other sections' sentences."""
    overview_weight: float = 0.8
    """Sentences before the first heading (a summary of the rest) weigh this much."""
    definition_cue: float = 2.5
    """Weight of "what is X" on the sentence that defines subject word X (most like X's
    WordNet definition)."""
    answer_share: float = 0.6
    """The words of the answer's other sentences weigh this share of their own weight."""
    section_cue: float = 0.3
    """Weight of the words of the rest of the sentence's section (the passage it belongs to)."""
    heading_type_scale: float = 0.3
    """Question-type cues of the type a section's heading announces ("Causes of ...") weigh this
    much more for each sentence of the section."""
    type_word_weight: float = 0.6
    """Words that say what kind of question it is ("cause", "reason", "stop") weigh this much of
    other words as the sentence's own words (the question type weighs them already)."""
    mismatch_scale: float = 2.0
    """A question of a type the answer is not of (a why-question, the answer gives no cause)
    takes this share of the type's cue weights off the answer."""
    mismatch_types: tuple[str, ...] = ("cause", "quantity", "action", "professional", "prevention")
    """The question types that count against answers of another type."""
    type_from_answer: bool = True
    """Question types are read from the whole answer (the sentence and those said with it)."""
    marker_types: tuple[str, ...] = ("cause", "professional", "feel")
    """Verbs and adjectives by which an article sentence says it is of one of these question
    types ("can *lead* to", "*see* a doctor", "you might *feel*") weigh ``marker_weight`` of other
    words: they say what kind of sentence it is, not what it is about."""
    marker_weight: float = 0.8


FUNCTION_WORDS = frozenset(
    "also very really just even still often usually sometimes always never ever while during "
    "many much more most less least few lot lots each every another other others such same own "
    "right able like well too quite rather almost already yet again ever since until within "
    "make makes made take takes took give gives gave keep keeps kept come comes came put say "
    "says said tell tells seem seems become becomes became begin begins try tries use used "
    "way ways part kind type types sort help helps helped before after "
    "they them their theirs themselves he him his himself she her hers herself itself yourself "
    "ourselves".split())
"""Words of any article that tell its sentences apart no better than "the" does."""

_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million half quarter dozen".split())

TYPE_STEMS = frozenset(stem(w) for qt in QUESTION_TYPES for phrase, _ in qt.cues for w in phrase.split()
                       if w not in STOPWORDS)
"""Stems of the words that say what kind of question is asked."""

_REFERS_BACK = re.compile(r"^(this|these|that|those|they|such|both)\b", re.IGNORECASE)

@dataclass
class DraftIntent:
    name: str
    label: str
    answer: str
    more: list[str]
    cues: dict[str, float]
    needs: list[str]
    examples: list[str]
    question_types: list[str] = field(default_factory=list)
    index: int = 0
    """The article sentence (from 0) the intent was made from."""

    def as_data(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "cues": dict(self.cues), "needs": list(self.needs),
                "examples": list(self.examples), "answer": self.answer, "more": list(self.more)}


@dataclass
class Draft:
    subject_name: str
    subject: list[str]
    off_subject: list[str]
    lexicon: dict[str, str]
    intents: list[DraftIntent]
    summary: str = ""

    def as_data(self) -> dict[str, Any]:
        """The same structure as a curated intents file (for voiceskill.intents.intents_from_data)."""
        router: dict[str, Any] = {"subject_name": self.subject_name, "subject": list(self.subject),
                                  "off_subject": list(self.off_subject)}
        if self.off_subject:
            router["off_subject_alone_final"] = True
        if self.summary:
            router["summary"] = self.summary
        return {"router": router, "lexicon": dict(self.lexicon),
                "intent": [i.as_data() for i in self.intents]}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "section"


_FUNCTION_STEMS = frozenset(stem(w) for w in FUNCTION_WORDS)


def _content(text: str, stop: frozenset[str]) -> list[str]:
    """Content words of a text, in order (lower case, surface forms): neither the word nor its
    stem is a stop or function word ("done" -> "do")."""
    from voiceskill.text import STOP_STEMS
    return [w for w in tokens(text) if w not in stop and stem(w) not in _FUNCTION_STEMS
            and stem(w) not in STOP_STEMS and len(w) > 2 and not w.isdigit()]


class _Builder:
    def __init__(self, article: Article, wordnet: WordNet | None, config: BuildConfig) -> None:
        from voiceskill.text import STOPWORDS
        stop = STOPWORDS | FUNCTION_WORDS
        self.article = article
        self.wn = wordnet
        self.cfg = config
        self.stop = stop
        self.sentences = list(article.sentences)
        self.words = [_content(s.text, stop) for s in self.sentences]
        self.df: Counter[str] = Counter()
        for ws in self.words:
            self.df.update({stem(w) for w in ws})
        self.n = len(self.sentences)
        # the surface form each stem appears as most often (cues are written as words)
        forms: Counter[tuple[str, str]] = Counter((stem(w), w) for ws in self.words for w in ws)
        self.surface: dict[str, str] = {}
        for (s, w), _ in forms.most_common():
            self.surface.setdefault(s, w)
        headings = [sec.heading for sec in article.sections]
        self.title_stems = {stem(w) for w in _content(article.title, stop)}
        heading_count: Counter[str] = Counter()
        for h in {*headings, article.title}:
            heading_count.update({stem(w) for w in _content(h, stop)})
        self.subject = set(self.title_stems) | {s for s, c in heading_count.items() if c >= 2} | {
            s for s, c in self.df.items() if c >= max(3, self.cfg.subject_share * self.n)}
        self.article_stems = set(self.df) | set(heading_count)
        self.subject |= self.subject_synonyms()
        # numbers and units ("four", "day", "ounces") say how much, not what about
        self.measures = {stem(w) for ws in self.words for w in ws
                         if w in _NUMBER_WORDS or (wordnet is not None and wordnet.is_unit(w))}
        # adverbs ("properly", "quickly") say how, rarely what about
        self.adverbs = {stem(w) for ws in self.words for w in ws
                        if wordnet is not None and wordnet.dominant_pos(w) == "r"}
        self.markers = self.type_markers()
        self.home: dict[str, str] = {}  # stem of a heading word -> its section's heading
        for sec in article.sections:
            if sec.heading != article.title:
                for w in _content(sec.heading, stop):
                    self.home.setdefault(stem(w), sec.heading)

    def subject_synonyms(self) -> set[str]:
        """Stems of the article's words that WordNet gives as noun synonyms of a subject word
        ("spasm" in an article about cramps): they name the subject too."""
        if self.wn is None:
            return set()
        out: set[str] = set()
        for s in sorted(self.subject):
            word = self.surface.get(s, s)
            for syn in self.wn.synonyms(word, self.cfg.synonym_senses, parts_of_speech=("n",),
                                        min_share=self.cfg.synonym_share):
                if stem(syn) in self.df and stem(syn) not in self.subject:
                    log.debug("%r names the subject like %r", syn, word)
                    out.add(stem(syn))
        return out

    # -- weights ------------------------------------------------------------------------------
    def specificity(self, s: str) -> float:
        """1 for a word of one sentence, towards 0 for a word of every sentence."""
        df = max(1, self.df.get(s, 1))
        return max(0.0, math.log(self.n / df) / math.log(max(2, self.n)))

    def weight(self, s: str, heading: str) -> float:
        if s in self.subject:
            return self.cfg.subject_cue
        w = self.cfg.cue_base + self.cfg.cue_span * self.specificity(s)
        if s in self.measures:
            w *= self.cfg.measure_weight
        if s in self.adverbs:
            w *= self.cfg.adverb_weight
        if s in TYPE_STEMS or s in self.markers:
            w *= self.cfg.type_word_weight
        if s in self.home and self.home[s] != heading:
            w *= self.cfg.away_from_heading
        if heading == self.article.title:
            w *= self.cfg.overview_weight
        return round(w, 2)

    def type_markers(self) -> frozenset[str]:
        """Stems of the words (verbs, adjectives, adverbs) by which the article's sentences say
        they are of a question type of ``marker_types``."""
        if self.wn is None:
            return frozenset()
        out: set[str] = set()
        for qt in QUESTION_TYPES:
            if qt.name not in self.cfg.marker_types:
                continue
            for sentence in self.sentences:
                for m in qt.sentence.finditer(sentence.text):
                    out.update(stem(w) for w in tokens(m.group(0))
                               if w not in self.stop and self.wn.dominant_pos(w) not in ("n", None))
        return frozenset(out)

    # -- passages -----------------------------------------------------------------------------
    def passage(self, section_sentences: list[Sentence], i: int) -> list[int]:
        """Positions (within the section) of the sentences that answer with sentence ``i``."""
        out = [i]
        if i > 0 and _REFERS_BACK.match(section_sentences[i].text):
            out.insert(0, i - 1)
        for j in range(i + 1, min(len(section_sentences), i + 1 + self.cfg.sentences_after)):
            out.append(j)
        return out

    def more(self, section_sentences: list[Sentence], said: list[int]) -> list[str]:
        """The rest of the section after the answer, then the part before it, in steps."""
        after = [j for j in range(said[-1] + 1, len(section_sentences))]
        before = [j for j in range(0, said[0])]
        out: list[str] = []
        for part in (after, before):
            for k in range(0, len(part), self.cfg.more_sentences):
                out.append(" ".join(section_sentences[j].text for j in part[k:k + self.cfg.more_sentences]))
        return out

    def next_section(self, section: Any) -> list[str]:
        """When a section has nothing more to say: the start of the section after it."""
        sections = list(self.article.sections)
        at = sections.index(section)
        if at + 1 < len(sections):
            nxt = sections[at + 1].sentences[:self.cfg.more_sentences]
            return [" ".join(s.text for s in nxt)]
        return []

    # -- the draft ----------------------------------------------------------------------------
    def question_types(self) -> list[tuple[tuple[QuestionType, ...], tuple[QuestionType, ...]]]:
        """Per article sentence: the question types its answer is of, and those of them its
        section's heading announces. A type no sentence of the article is of goes to the
        sentences of its fallback type ("how do I prevent it" to advice when nothing says "prevent")."""
        out = []
        for section in self.article.sections:
            sents = list(section.sentences)
            announced = () if section.heading == self.article.title else heading_types_of(section.heading)
            for i, sentence in enumerate(sents):
                text = (" ".join(sents[j].text for j in self.passage(sents, i)) if self.cfg.type_from_answer
                        else sentence.text)
                out.append((tuple(dict.fromkeys(question_types_of(text) + announced)), announced))
        present = {qt.name for qtypes, _ in out for qt in qtypes}
        orphans = [qt for qt in QUESTION_TYPES if qt.fallback and qt.name not in present]
        return [(qtypes + tuple(qt for qt in orphans if qt.fallback in {q.name for q in qtypes}), announced)
                for qtypes, announced in out]

    def build(self) -> Draft:
        types = self.question_types()
        answered = {qt for qtypes, _ in types for qt in qtypes}
        intents: list[DraftIntent] = []
        names: set[str] = set()
        used: dict[tuple[str, ...], str] = {}
        for section in self.article.sections:
            sents = list(section.sentences)
            is_title = section.heading == self.article.title
            base = "overview" if is_title else _slug(section.heading)
            heading_words = [] if is_title else [
                w for w in _content(section.heading, self.stop) if stem(w) not in self.subject]
            for i, sentence in enumerate(sents):
                name = f"{base}-{i + 1}"
                while name in names:
                    name += "x"
                names.add(name)
                said = self.passage(sents, i)
                cues: dict[str, float] = {}
                words = self.words[sentence.index]
                for w in words:
                    cues[w] = max(cues.get(w, 0.0), self.weight(stem(w), section.heading))
                for w in heading_words:
                    cues[w] = max(cues.get(w, 0.0), self.cfg.heading_cue * (1.0 + self.cfg.lead_bonus * (i == 0)))
                # the passage: what the answer says besides the sentence, then the rest of its section
                for j in said:
                    for w in self.words[sents[j].index]:
                        weight = round(self.cfg.answer_share * self.weight(stem(w), section.heading), 2)
                        cues[w] = max(cues.get(w, 0.0), weight)
                if self.cfg.section_cue > 0:
                    for other in sents:
                        for w in self.words[other.index]:
                            cues.setdefault(w, self.cfg.section_cue)
                for a, b in zip(words, words[1:]):
                    if stem(a) != stem(b) and not {stem(a), stem(b)} & self.subject:
                        cues[f"{a} {b}"] = self.cfg.pair_cue
                qtypes, announced = types[sentence.index]
                for qt in qtypes:
                    scale = self.cfg.question_type_scale * (1.0 + self.cfg.heading_type_scale * (qt in announced))
                    for phrase, weight in qt.cues:
                        cues[phrase] = max(cues.get(phrase, 0.0), round(weight * scale, 2))
                if self.cfg.mismatch_scale > 0:
                    for qt in QUESTION_TYPES:
                        if qt in qtypes or qt.name not in self.cfg.mismatch_types or qt not in answered:
                            continue
                        for phrase, weight in qt.cues:
                            if phrase not in cues:
                                cues[phrase] = -round(weight * self.cfg.mismatch_scale, 2)
                needs = sorted({*words, *heading_words, *(self.surface.get(x, x) for x in self.subject)})
                ranked = sorted({w for w in words if stem(w) not in self.subject},
                                key=lambda w: (-self.specificity(stem(w)), words.index(w)))
                examples = [" ".join(ranked[:2])] if len(ranked) >= 2 else []
                if self.cfg.heading_examples:
                    examples += [f"{h} {w}" for h in heading_words[:1] for w in ranked[:2] if stem(w) != stem(h)]
                # an example belongs to one intent only (`voiceskill intents check` holds it an error)
                examples = [e for e in examples if used.setdefault(tuple(sorted(stem(w) for w in e.split())),
                                                                   name) == name]
                intents.append(DraftIntent(
                    name=name, label="the basics" if is_title else section.heading.lower(),
                    answer=" ".join(sents[j].text for j in said),
                    more=self.more(sents, said) or self.next_section(section),
                    cues=cues, needs=needs, examples=examples, question_types=[q.name for q in qtypes],
                    index=sentence.index))
        intents = self.merge_summaries(intents)
        self.add_definitions(intents)
        lexicon = self.lexicon()
        subject_words = sorted({self.surface.get(s, s) for s in self.subject})
        off_subject = self.off_subject(lexicon)
        return Draft(subject_name=self.article.title.lower(), subject=subject_words,
                     off_subject=off_subject, lexicon=lexicon, intents=intents)

    def merge_summaries(self, intents: list[DraftIntent]) -> list[DraftIntent]:
        """A sentence before the first heading that sums up a later sentence (shares at least
        ``summary_overlap`` of its specific words) is asked about with that sentence's words:
        its cues go to the later sentence, whose answer says more."""
        section_of = [s.section for s in self.sentences]
        keep: list[DraftIntent] = []
        for k, intent in enumerate(intents):
            if section_of[k] != self.article.title:
                keep.append(intent)
                continue
            mine = {stem(w) for w in self.words[k]} - self.subject
            best, best_overlap = -1, 0.0
            for j in range(self.n):
                if section_of[j] == self.article.title:
                    continue
                shared = mine & {stem(w) for w in self.words[j]}
                overlap = (len(shared) if len(shared) >= self.cfg.summary_overlap else 0) / max(1, len(mine))
                if overlap > best_overlap:
                    best, best_overlap = j, overlap
            if best < 0 or best_overlap < self.cfg.summary_share:
                keep.append(intent)
                continue
            target = intents[best]
            for cue, weight in intent.cues.items():
                if weight > 0 and cue not in target.cues:
                    weight = round(weight * self.cfg.summary_weight, 2)
                target.cues[cue] = max(target.cues.get(cue, 0.0), weight)
            target.needs = sorted(set(target.needs) | set(intent.needs))
            log.debug("%s sums up %s: merged", intent.name, target.name)
        return keep

    def add_definitions(self, intents: list[DraftIntent]) -> None:
        """"What is X" for the article's subject (the title, when WordNet knows it as one term,
        and each subject word) goes to the sentence that defines X: most like X's WordNet
        definition, or saying "X is/are ...", among the answers that name X."""
        if self.wn is None:
            return
        names: list[tuple[str, str]] = []  # (what is asked about, the term whose definition says what it is)
        title_words = _content(self.article.title, self.stop)
        if len(title_words) > 1 and self.wn.definition("_".join(title_words)):
            names.append((" ".join(title_words), "_".join(title_words)))
        elif len(title_words) > 1 and stem(title_words[-1]) in self.subject:
            # "what is a glute cramp": a cramp, the title's last word (what English phrases name)
            names.append((" ".join(title_words), self.surface.get(stem(title_words[-1]), title_words[-1])))
        names += [(self.surface.get(s, s), self.surface.get(s, s)) for s in sorted(self.subject)]
        lemmas = [{self.wn.lemma(w) for w in ws} for ws in self.words]
        for name, term in names:
            gloss = {self.wn.lemma(w) for w in _content(self.wn.definition(term), self.stop)}
            gloss -= {self.wn.lemma(w) for w in name.split()}
            name_stems = {stem(w) for w in name.split()}
            copula = re.compile(r"^(the |a |an |your )?" + r"\w* ?".join(re.escape(w[:-1] if w.endswith("s") else w)
                                                                        for w in name.split())
                                + r"\w* (is|are) ", re.IGNORECASE)
            best, best_score = -1, 0.0
            for k, intent in enumerate(intents):
                if not name_stems & {stem(w) for w in tokens(intent.answer)}:
                    continue
                at = intent.index
                score = len(gloss & lemmas[at]) + (2.0 if copula.match(self.sentences[at].text) else 0.0)
                if score > best_score:
                    best, best_score = k, score
            if best < 0:
                continue
            for phrase in (f"what is {name}", f"what are {name}", f"what is a {name}", f"what are the {name}",
                           f"tell me about {name}", f"tell me about the {name}",
                           f"{name} mean", f"explain {name}", f"define {name}", f"what do {name} do",
                           f"what a {name} is", f"what {name} is", f"what {name} are"):
                intents[best].cues[phrase] = self.cfg.definition_cue
            log.debug("definition of %r: %s", name, intents[best].name)

    def lexicon(self) -> dict[str, str]:
        """Synonym (surface) -> article word (surface), for synonyms the article does not use.
        A synonym of several article words goes to the one found in most sentences."""
        if self.wn is None:
            return {}
        from voiceskill.text import STOP_STEMS
        found: dict[str, tuple[int, str, str]] = {}  # synonym stem -> (rank, synonym, article word)
        for s, word in sorted(self.surface.items()):
            # what an article is about is a thing: its subject words have only noun synonyms
            # ("glutes" is no verb "glut": no "overeat")
            kinds = ("n",) if s in self.subject else ("n", "v", "a", "r")
            related = self.wn.derived(word, self.cfg.synonym_senses, kinds) if self.cfg.derived_forms else set()
            if self.cfg.kinds_depth and s not in self.subject:
                related |= self.wn.kinds_of(word, self.cfg.kinds_depth)
            related |= self.prefixed(s, word)
            for syn in sorted(self.wn.synonyms(word, self.cfg.synonym_senses, wholes=s in self.subject,
                                               parts_of_speech=kinds, min_share=self.cfg.synonym_share) | related):
                key = stem(syn)
                if (len(syn) < 3 or syn in self.stop or syn in FILLERS or key in self.article_stems
                        or key in STOP_STEMS or key in TYPE_STEMS):
                    continue
                rank = self.df.get(s, 0)
                if key not in found or rank > found[key][0]:
                    found[key] = (rank, syn, word)
        return {syn: word for _, syn, word in sorted(found.values(), key=lambda v: v[1])}

    def prefixed(self, s: str, word: str) -> set[str]:
        """Words WordNet has that are ``word`` with a prefix ("dehydrate" for "hydrated") and whose
        definition names something a sentence saying ``word`` names too ("removing all water":
        the article says "hydrated by drinking ... water"), so "design" is no "sign"."""
        if self.wn is None or not self.cfg.prefixes:
            return set()
        base = self.wn.lemma(word)
        around = {self.wn.lemma(w) for ws in self.words if s in {stem(x) for x in ws} for w in ws} - {base}
        out: set[str] = set()
        for prefix in self.cfg.prefixes:
            definition = self.wn.definition(prefix + base, ("n", "v", "a", "r"))
            if definition and {self.wn.lemma(w) for w in _content(definition, self.stop)} & around:
                out.add(prefix + base)
        return out

    def off_subject(self, lexicon: dict[str, str]) -> list[str]:
        if self.wn is None:
            return []
        known = self.article_stems | {stem(k) for k in lexicon}
        out: set[str] = set()
        for s in sorted(self.subject):
            lexname, kin = self.wn.kindred_words(self.surface.get(s, s), self.cfg.off_subject_min_count)
            if lexname not in CONCRETE_CLASSES:
                continue
            for word in kin:
                if (stem(word) not in known and word not in self.stop and len(word) > 2
                        and not self.wn.common_neighbours(word, self.cfg.typo_min_count)):
                    out.add(word)
        return sorted(out)


def draft_intents(article: Article, wordnet: WordNet | None, config: BuildConfig | None = None) -> Draft:
    """Plan intents for ``article`` (``wordnet`` None: no synonyms and no off-subject words)."""
    return _Builder(article, wordnet, config or BuildConfig()).build()
