"""Lexical knowledge for intents built from an article: synonyms and word classes from WordNet,
and question types (why -> causes, how much -> quantities, when -> conditions).

WordNet 3.0 comes from Debian's ``wordnet-base`` package (``/usr/share/wordnet``) and is read
with NLTK's WordNet reader. It is only read while intents are built: :class:`WordNet` is a
context manager, and what intents keep from it is a few small tables of words.
"""

from __future__ import annotations

import io
import logging
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from voiceskill.errors import IntentsError

log = logging.getLogger(__name__)

DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")
"""Where Debian's ``wordnet-base`` installs WordNet 3.0 (``$VOICESKILL_WORDNET`` overrides)."""

# WordNet's fixed table of lexicographer files (the Debian package leaves out the `lexnames`
# file that NLTK's reader wants; it is the same for every WordNet 3.0 database).
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
    "adj.ppl").split()
_LEXNAMES_FILE = "".join(f"{i:02d}\t{name}\t{i}\n" for i, name in enumerate(_LEXNAMES))

CONCRETE_CLASSES = frozenset({"noun.body", "noun.animal", "noun.plant", "noun.artifact", "noun.food",
                              "noun.substance", "noun.object"})
"""Word classes of things: a question naming another thing of the subject's class (another body
part when the article is about one) is about something else."""

KIND_CLASSES = frozenset({"noun.act", "noun.food", "noun.person", "noun.substance", "noun.artifact"})
"""Word classes whose kinds are asked about as the kind ("squat" for an exercise, "surgeon" for a
doctor); other classes' hyponyms are other things (another body part, another place, a date)."""

_WORD = re.compile(r"[a-z]+")


def wordnet_dir() -> Path:
    return Path(os.environ.get("VOICESKILL_WORDNET") or DEFAULT_WORDNET_DIR)


def wordnet_available(path: Path | None = None) -> bool:
    return ((path or wordnet_dir()) / "data.noun").is_file()


# WordNet's own rules for taking an inflection off a word of each part of speech (its `morphy`)
_DETACH = {"noun": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
                    ("men", "man"), ("ies", "y")),
           "verb": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
                    ("ing", "")),
           "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
           "adv": ()}


@lru_cache(maxsize=2)
def _wordnet_words(path: Path) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """WordNet's irregular forms (``*.exc``, all parts of speech) and its one-word lemmas by part
    of speech."""
    def first_words(name: str) -> frozenset[str]:
        with open(path / name, encoding="utf-8") as f:
            return frozenset(w for line in f if not line.startswith(" ") and (w := line.split(" ", 1)[0]).isalpha())
    irregular = frozenset().union(*(first_words(f"{pos}.exc") for pos in _DETACH))
    return irregular, {pos: first_words(f"index.{pos}") for pos in _DETACH}


def is_english_word(word: str, path: Path | None = None) -> bool | None:
    """Whether ``word`` is an English noun, verb, adjective or adverb in WordNet, inflected or not
    ("nights", "tighter", "single"); None when WordNet is not installed. Read on first use."""
    root = path or wordnet_dir()
    if not wordnet_available(root):
        return None
    irregular, lemmas = _wordnet_words(root)
    return word in irregular or any(
        word in known or any(word.endswith(end) and word[:len(word) - len(end)] + base in known
                             for end, base in _DETACH[pos] if len(word) > len(end) + 1)
        for pos, known in lemmas.items())


class WordNet:
    """WordNet 3.0 read from a directory of its database files (``data.*``, ``index.*``).

    Use as a context manager; :meth:`synonyms` and friends only return plain lower-case words.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or wordnet_dir()
        self._reader: Any = None
        self._pos_cache: dict[str, str | None] = {}

    def __enter__(self) -> WordNet:
        if not wordnet_available(self.path):
            raise IntentsError(f"WordNet not found in {self.path}: install Debian's `wordnet-base` "
                               f"(scripts/dev.sh setup does) or set VOICESKILL_WORDNET")
        import nltk.data
        from nltk.corpus.reader.wordnet import WordNetCorpusReader

        root = str(self.path)
        if root not in nltk.data.path:
            nltk.data.path.append(root)  # NLTK only reads corpora under its data paths

        class _Reader(WordNetCorpusReader):
            def open(self, file: str) -> Any:
                if file == "lexnames":
                    return io.StringIO(_LEXNAMES_FILE)
                return super().open(file)

            def map_wn(self, version: str = "wordnet") -> None:
                return None  # no mapping to other WordNet versions (multilingual data) needed

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._reader = _Reader(root, None)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._reader = None

    @property
    def reader(self) -> Any:
        if self._reader is None:
            raise RuntimeError("WordNet used outside its `with` block")
        return self._reader

    @staticmethod
    def _plain(names: Iterable[str]) -> set[str]:
        return {n.lower() for n in names if _WORD.fullmatch(n.lower())}

    def synonyms(self, word: str, senses: int = 2, wholes: bool = False,
                 parts_of_speech: tuple[str, ...] = ("n", "v", "a", "r"), min_share: float = 0.0) -> set[str]:
        """One-word synonyms of ``word``: words sharing one of its ``senses`` most frequent senses
        (per part of speech) for which that sense is one of their own ``senses`` most frequent
        (so "heart" is no synonym of "nerve") and, when the sense-tagged corpus has seen them
        used as that part of speech, at least ``min_share`` of those uses are in that sense
        ("set" is seldom "put in a position"); with ``wholes``, also the names of the whole of
        the same kind its first noun sense is a part of (a muscle -> the body part)."""
        out: set[str] = set()
        for pos in parts_of_speech:
            base = self.reader.morphy(word, pos)
            if base is None:
                continue
            synsets = self.reader.synsets(base, pos=pos)[:senses]
            for i, synset in enumerate(synsets):
                for name in self._plain(lemma.name() for lemma in synset.lemmas()):
                    if (synset in self.reader.synsets(name, pos=pos)[:senses]
                            and self.dominant_pos(name) in (pos, "s" if pos == "a" else pos)
                            and self.sense_share(name, synset) >= min_share):
                        out.add(name)
                if wholes and pos == "n" and i == 0:
                    for whole in [h for h in synset.part_holonyms() if h.lexname() == synset.lexname()][:1]:
                        for name in self._plain(lemma.name() for lemma in whole.lemmas()):
                            for same in {*self.reader.synsets(name, pos="n")[:1],
                                         *self.reader.synsets(name + "s", pos="n")[:1]}:
                                out |= self._plain(lemma.name() for lemma in same.lemmas())
        out.discard(word)
        return out

    def sense_share(self, word: str, synset: Any) -> float:
        """The share of ``word``'s uses as ``synset``'s part of speech (sense-tagged counts) that
        are in that sense; 1.0 when the corpus never saw it so used."""
        def uses(s: Any) -> int:
            return sum(lemma.count() for lemma in s.lemmas() if lemma.name().lower() == word)
        total = sum(uses(s) for s in self.reader.synsets(word, pos=synset.pos()))
        return uses(synset) / total if total else 1.0

    def derived(self, word: str, senses: int = 2, parts_of_speech: tuple[str, ...] = ("n", "v", "a", "r")) -> set[str]:
        """One-word forms WordNet derives from ``word``'s ``senses`` most frequent senses (per part
        of speech): "day" -> "daily", "hydrated" -> "hydration"."""
        out: set[str] = set()
        for pos in parts_of_speech:
            base = self.reader.morphy(word, pos)
            if base is None:
                continue
            for synset in self.reader.synsets(base, pos=pos)[:senses]:
                for lemma in synset.lemmas():
                    if lemma.name().lower() == base:
                        out |= self._plain(d.name() for d in lemma.derivationally_related_forms())
        out.discard(word)
        return out

    def kinds_of(self, word: str, depth: int = 2) -> set[str]:
        """Common one-word names of kinds of what ``word`` names (its first noun sense's
        hyponyms, ``depth`` levels down, each named by a word whose first sense it is): a squat
        is an exercise."""
        base = self.reader.morphy(word, "n")
        synsets = self.reader.synsets(base, pos="n") if base else []
        if not synsets or self.dominant_pos(base) != "n":
            return set()
        out: set[str] = set()
        level = [synsets[0]]
        for _ in range(depth):
            level = [h for s in level for h in s.hyponyms()]
            for synset in level:
                for lemma in synset.lemmas():
                    name = lemma.name().lower()
                    if (_WORD.fullmatch(name) and lemma.count() > 0 and synset.lexname() in KIND_CLASSES
                            and self.reader.synsets(name, pos="n")[:1] == [synset]):
                        out.add(name)
        return out

    def lemma(self, word: str) -> str:
        """The dictionary form of ``word`` ("largest" -> "large"), or the word itself."""
        for pos in ("n", "v", "a", "r"):
            base = self.reader.morphy(word, pos)
            if base:
                return str(base)
        return word

    def definition(self, word: str, parts_of_speech: tuple[str, ...] = ("n",)) -> str:
        """The dictionary definition (gloss) of the most frequent sense of ``word`` (the first of
        ``parts_of_speech`` it has one of)."""
        for pos in parts_of_speech:
            base = self.reader.morphy(word, pos)
            synsets = self.reader.synsets(base, pos=pos) if base else []
            if synsets:
                return str(synsets[0].definition())
        return ""

    def dominant_pos(self, word: str) -> str | None:
        """The part of speech ``word`` is used as most (sense-tagged counts); None if unseen."""
        if word not in self._pos_cache:
            self._pos_cache[word] = self._dominant_pos(word)
        return self._pos_cache[word]

    def _dominant_pos(self, word: str) -> str | None:
        counts = {pos: sum(lemma.count() for s in self.reader.synsets(word, pos=pos)
                           for lemma in s.lemmas() if lemma.name().lower() == word)
                  for pos in ("n", "v", "a", "r")}
        best = max(counts, key=lambda p: counts[p])
        return best if counts[best] > 0 else None

    def is_unit(self, word: str) -> bool:
        """Whether one of the two most frequent noun senses of ``word`` (or of its singular) is a
        unit of measurement or of time (ounce, day, minute)."""
        forms = {word, self.reader.morphy(word, "n") or word}
        if word.endswith("s"):
            forms.add(word[:-1])
        for form in forms:
            for synset in self.reader.synsets(form, pos="n")[:2]:
                if any(h.name() in ("unit_of_measurement.n.01", "time_unit.n.01")
                       for h in synset.closure(lambda s: s.hypernyms())):
                    return True
        return False

    def count(self, word: str) -> int:
        """How often ``word`` itself (not its inflections) is in WordNet's sense-tagged corpus."""
        return sum(lemma.count() for s in self.reader.synsets(word) for lemma in s.lemmas()
                   if lemma.name().lower() == word)

    def common_neighbours(self, word: str, min_count: int) -> list[str]:
        """Words of 5+ letters, at least ``min_count`` common, one edit (a letter deleted, added,
        changed, or two swapped) from ``word`` and not merely ``word`` with an ending."""
        return sorted(w for w in _one_edit(word) if len(w) >= 5 and not w.startswith(word)
                      and self.count(w) >= min_count)

    def noun_class(self, word: str) -> str | None:
        """The word class (lexicographer file) of the most frequent noun sense of ``word``."""
        synsets = self.reader.synsets(word, pos="n")
        return synsets[0].lexname() if synsets else None

    def is_mostly_noun(self, word: str) -> bool:
        """Whether ``word`` is used as a noun more than as anything else (sense-tagged counts)."""
        counts: dict[str, int] = {}
        for pos in ("n", "v", "a", "r"):
            counts[pos] = sum(lemma.count() for s in self.reader.synsets(word, pos=pos)
                              for lemma in s.lemmas() if lemma.name().lower() == word)
        return counts["n"] > 0 and counts["n"] >= max(counts.values())

    def kindred_words(self, word: str, min_count: int = 1) -> tuple[str | None, set[str]]:
        """The word class of the first noun sense of ``word`` and common one-word nouns of the
        same kind: the descendants of its highest ancestor still in that class (for a muscle:
        every body part), each named by a word whose most frequent sense it is."""
        synsets = self.reader.synsets(word, pos="n")
        if not synsets:
            return None, set()
        first = synsets[0]
        lexname = first.lexname()
        top = first
        while True:
            ups = [h for h in top.hypernyms() if h.lexname() == lexname]
            if not ups:
                break
            top = ups[0]
        out: set[str] = set()
        for synset in top.closure(lambda s: s.hyponyms()):
            for lemma in synset.lemmas():
                name = lemma.name().lower()
                if (_WORD.fullmatch(name) and lemma.count() >= min_count
                        and self.dominant_pos(name) in (("n", None) if min_count == 0 else ("n",))):
                    senses = self.reader.synsets(name, pos="n")
                    if senses and senses[0] == synset:
                        out.add(name)
        return lexname, out


def _one_edit(word: str) -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out: set[str] = set()
    for i in range(len(word) + 1):
        head, tail = word[:i], word[i:]
        out.update(head + c + tail for c in letters)
        if tail:
            out.add(head + tail[1:])
            out.update(head + c + tail[1:] for c in letters)
        if len(tail) > 1:
            out.add(head + tail[1] + tail[0] + tail[2:])
    out.discard(word)
    return out


@dataclass(frozen=True)
class QuestionType:
    """A kind of question and the kind of sentence that answers it."""

    name: str
    cues: tuple[tuple[str, float], ...]
    """Question phrases (as written) and the weight they add to a sentence of this kind."""
    sentence: re.Pattern[str]
    """Matches the text of sentences of this kind."""
    heading: re.Pattern[str] | None = None
    """Matches section headings that announce a section of this kind ("Causes of ...")."""
    fallback: str | None = None
    """In an article with no sentence of this kind, the kind of sentence that answers instead."""


_NUMBER = (r"\d|\b(two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty|fifty|"
           r"hundred|dozen|half|quarter|minimum|maximum|at least|at most|percent|ounces?|liters?|"
           r"litres?|cups?|glasses|grams?|milligrams?|kilos?|pounds?|minutes?|hours?|seconds?|"
           r"days?|weeks?|times a|per)\b")

QUESTION_TYPES: tuple[QuestionType, ...] = (
    QuestionType("cause", (("why", 1.5), ("what cause", 1.5), ("what make", 1.0), ("reason", 1.0),
                           ("how come", 1.0), ("cause", 1.0), ("trigger", 1.5), ("come from", 1.5),
                           ("behind", 1.0), ("what is going on", 1.0), ("because", 1.0)),
                 re.compile(r"\b(caus(ed|es|ing)|(can|may|might|could|will|often|also|to) cause|due to|"
                            r"leads? to|lead to|because|results? (from|in)|triggers?|reasons? (for|why))\b",
                            re.IGNORECASE),
                 re.compile(r"\b(caus\w*|why|reasons?|triggers?|risks?)\b", re.IGNORECASE)),
    QuestionType("quantity", (("how much", 1.5), ("how many", 1.5), ("how often", 1.0),
                              ("how long", 1.0), ("amount", 1.0), ("enough", 1.0), ("recommend", 1.0), ("target", 1.0),
                              ("least", 0.5)),
                 re.compile(_NUMBER, re.IGNORECASE)),
    QuestionType("condition", (("when should", 1.0), ("when to", 1.0), ("when do i need", 1.0)),
                 re.compile(r"\b(if|unless|when)\b", re.IGNORECASE)),
    QuestionType("timing", (("when should", 1.5), ("before or after", 1.5), ("what time", 0.5),
                            ("before", 0.5), ("after", 0.5)),
                 re.compile(r"\b(before|after|during|while|first|then)\b", re.IGNORECASE)),
    QuestionType("professional", (("should i see", 1.5), ("see someone", 1.5), ("worry", 1.5),
                                  ("worried", 1.5), ("serious", 1.5), ("medical", 1.5), ("checked", 1.0),
                                  ("professional", 1.5), ("normal", 0.5), ("at what point", 1.0),
                                  ("keep happening", 1.0), ("all the time", 1.0), ("keep coming back", 1.0),
                                  ("constantly", 1.0)),
                 re.compile(r"\b(see|consult|visit|call|seek) (a|an|your) \w+|\b(doctor|physician|physio\w*|"
                            r"medical|professional|emergency|clinic|hospital)\b", re.IGNORECASE),
                 re.compile(r"\b(doctor|physician|medical|when to see)\b", re.IGNORECASE)),
    QuestionType("action", (("what should i do", 1.5), ("what do i do", 1.5), ("what can i do", 1.5),
                            ("how do i", 0.5), ("how can i", 0.5), ("how to", 0.5),
                            ("tips", 1.0), ("advice", 1.0),
                            ("best way", 1.0), ("what help", 1.0)),
                 re.compile(r"^(\w+ly )?(stay|take|eat|drink|avoid|try|use|keep|make|increase|"
                            r"decrease|reduce|warm|stretch|rest|stop|start|see|do|don't|never|always|"
                            r"include|add|get|go|wear|apply|move|hold|breathe|relax|ice|replace|return|"
                            r"strengthen|switch|choose|run|walk)\b|"
                            r"\b(can|should|may) (\w+ )?(be relieved|help|prevent|treat|ease)|\bby \w+ing\b",
                            re.IGNORECASE),
                 re.compile(r"\b(treat\w*|prevent\w*|avoid\w*|recover\w*|reliev\w*|manag\w*|how to|tips|"
                            r"getting back)\b", re.IGNORECASE)),
    QuestionType("prevention", (("prevent", 1.5), ("avoid", 1.5), ("keep from", 1.0), ("next time", 1.0),
                                ("again", 0.5), ("come back", 1.0), ("stop get", 1.0), ("from happen", 1.0),
                                ("never get", 1.0)),
                 re.compile(r"\b(prevent\w*|avoid\w*|lower (the|your) risk)\b", re.IGNORECASE),
                 re.compile(r"\b(prevent\w*|avoid\w*|treat\w*|manag\w*)\b", re.IGNORECASE), "action"),
    QuestionType("immediate", (("right now", 1.5), ("in the moment", 1.5), ("right this second", 1.5),
                               ("get rid of", 1.0), ("fast", 1.0), ("quick", 1.0), ("loosen", 1.0),
                               ("mid", 0.5), ("now", 0.5), ("while", 0.5), ("during", 0.5),
                               ("what now", 1.5), ("release", 1.0), ("ease", 1.0), ("fix", 1.0),
                               ("just", 0.5), ("middle of", 1.0), ("make stop", 1.5)),
                 re.compile(r"\b(quickly|immediately|right away|at once|instantly|relieved?|relief|"
                            r"ease[ds]?|on the spot)\b", re.IGNORECASE)),
    QuestionType("feel", (("feel like", 1.0), ("how do i know", 1.5), ("how can i tell", 1.5),
                          ("symptom", 1.0), ("sign", 0.5), ("recognize", 1.0),
                          ("warning", 1.0), ("how bad", 1.0), ("hurt", 0.5)),
                 re.compile(r"\b(feel|felt|sign|symptoms?|notice|visible)\b", re.IGNORECASE),
                 re.compile(r"\b(signs?|symptoms?|feels?|feeling)\b", re.IGNORECASE)),
    QuestionType("definition", (("what is", 0.5), ("what are", 0.5), ("mean", 0.5),
                                ("exactly", 0.5)),
                 re.compile(r"^[\w ,]{0,60}\b(is|are) (a|an|the|sudden|one|\w+ing)\b", re.IGNORECASE)),
)
"""Question types every article shares; none names anything an article is about."""


def question_types_of(sentence: str) -> tuple[QuestionType, ...]:
    return tuple(q for q in QUESTION_TYPES if q.sentence.search(sentence))


def heading_types_of(heading: str) -> tuple[QuestionType, ...]:
    """The question types a section heading announces its section answers."""
    return tuple(q for q in QUESTION_TYPES if q.heading is not None and q.heading.search(heading))
