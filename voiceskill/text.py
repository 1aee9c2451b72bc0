"""Text normalization shared by the router and the recognizer's vocabulary.

Speech recognizers give lower-case words with no punctuation, with fillers ("um"), numbers
spelled out, and misheard words; typed questions have punctuation, digits and contractions.
:func:`tokens` turns both into the same list of plain words, and :func:`stem` folds
inflections ("cramping", "cramps", "cramped" -> "cramp") so matching is about meaning,
not grammar.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

UNK = "[unk]"
"""The token Vosk emits for speech outside its grammar."""

FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "ahh", "hmm", "hm", "mm",
                     "mhm", "eh", "oh", "ooh", "ow", "ouch", "argh", "ugh", "okay", "ok",
                     "well", "hey", "yo", "please", "actually", "really", "basically", "coach"})
"""Words dropped before matching (hesitations, discourse markers, the wake word)."""

_CONTRACTIONS = {
    "what's": "what is", "whats": "what is", "it's": "it is", "that's": "that is",
    "there's": "there is", "how's": "how is", "where's": "where is", "who's": "who is",
    "don't": "do not", "dont": "do not", "doesn't": "does not", "doesnt": "does not",
    "didn't": "did not", "didnt": "did not", "isn't": "is not", "aren't": "are not",
    "can't": "can not", "cant": "can not", "cannot": "can not", "won't": "will not",
    "wont": "will not", "shouldn't": "should not", "wouldn't": "would not",
    "i'm": "i am", "im": "i am", "i've": "i have", "ive": "i have", "i'd": "i would",
    "i'll": "i will", "you're": "you are", "they're": "they are", "we're": "we are",
    "let's": "let us", "y'all": "you all", "gonna": "going to", "wanna": "want to",
    "gotta": "got to", "kinda": "kind of", "shouldnt": "should not", "wouldnt": "would not",
    "couldnt": "could not", "wasnt": "was not", "arent": "are not", "havent": "have not",
    "hasnt": "has not", "thats": "that is", "theres": "there is", "youre": "you are",
    "theyre": "they are", "hows": "how is", "whys": "why is", "dunno": "do not know",
    # texting and slang spellings of everyday words
    "wat": "what", "wot": "what", "wht": "what", "wtf": "what", "u": "you", "ur": "your",
    "tho": "though", "cuz": "because", "coz": "because", "cos": "because", "b4": "before",
    "pls": "please", "plz": "please", "ya": "you", "yeah": "yes", "nah": "no",
    "shud": "should", "wen": "when", "dr": "doctor", "footy": "football",
}

SPOKEN_CONTRACTIONS = frozenset(k for k in _CONTRACTIONS if "'" in k)
"""Contractions as people say them ("doesn't"): a grammar needs them whole, or "so it doesn't
cramp" can only be heard as "so it does cramp"."""

MAX_WORD_LETTERS = 40
"""Longer tokens are not words (a pasted hash or URL, a key held down): :func:`words` drops them."""

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_TOKEN = re.compile(r"\[unk\]|[a-z0-9]+(?:'[a-z]+)?")


def number_words(n: int) -> str:
    """Spell a whole number below a million the way a recognizer would write it."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    if n < 1_000_000:
        rest = n % 1000
        return number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_words(rest))
    return str(n)


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` with contractions expanded and digits spelled out.

    Fillers are kept (see :func:`tokens`); ``[unk]`` is kept as one token. Tokens longer than
    :data:`MAX_WORD_LETTERS` are dropped, which bounds the work any later stage does per word.
    """
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"(\d),(\d{3})", r"\1\2", text)
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        if len(tok) > MAX_WORD_LETTERS:
            continue
        if tok in _CONTRACTIONS:
            out.extend(_CONTRACTIONS[tok].split())
        elif tok.isdigit():
            out.extend(number_words(int(tok)).split() if len(tok) <= 6 else [tok])
        elif tok.endswith("'s"):
            out.append(tok[:-2])
        elif "'" in tok and (split := _suffix_contraction(tok)):
            out.extend(split)
        elif "'" in tok and tok != UNK:
            out.append(tok.replace("'", ""))
        else:
            out.append(tok)
    return out


_WH = frozenset("why how what where when who".split())
_SUFFIXES = {"n't": "not", "'ll": "will", "'ve": "have", "'re": "are", "'m": "am"}


def _suffix_contraction(tok: str) -> list[str]:
    """Contractions not in the table, by their ending: "why'd" -> why did, "she'd" -> she would,
    "shouldn't've" -> should not have; [] if ``tok`` has none."""
    for suffix, full in _SUFFIXES.items():
        if tok.endswith(suffix) and len(tok) > len(suffix):
            rest = _suffix_contraction(tok[:-len(suffix)]) or [tok[:-len(suffix)]]
            return [*rest, full]
    if tok.endswith("'d") and len(tok) > 2:
        return [tok[:-2], "did" if tok[:-2] in _WH else "would"]
    return []


def tokens(text: str) -> list[str]:
    """:func:`words` without fillers and hesitations."""
    return [w for w in words(text) if w not in FILLERS]


_IRREGULAR = {"does": "do", "did": "do", "doing": "do", "feet": "foot", "men": "man",
              "women": "woman", "ate": "eat", "drank": "drink", "drunk": "drink", "felt": "feel"}
"""Irregular forms the stemmer cannot fold (checked before it)."""


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """Fold inflections and derivations to one key with the Snowball (Porter 2) English stemmer
    ("cramping", "cramps", "cramped" -> "cramp"; "hydrated", "hydration" -> "hydrat"), after a few
    irregular forms. Matching is then about meaning, not grammar."""
    if word == UNK or len(word) > MAX_WORD_LETTERS:
        return word
    return str(_stemmer().stemWord(_IRREGULAR.get(word, word)))


STOPWORDS = frozenset(
    "a an the i me my mine myself you your yours we our us it its it's this that these those "
    "is am are was were be been being do does did doing have has had having will would shall "
    "should can could may might must to of in on at by for with from as into about than then "
    "and or but if so not no there here what which who whom whose when where why how any some "
    "all get got go going gonna want wanna need let know think thing things one ones".split())
"""Words that carry no topic by themselves (they may still be part of a cue phrase)."""

STOP_STEMS = frozenset(stem(w) for w in STOPWORDS)
"""The stems of :data:`STOPWORDS`."""

PURPOSE_MARKERS = frozenset({"to", "for", "help", "about"})
"""Words after which a question names what it is for or about ("to lose weight", "for energy", "help me
sleep", "about my hay fever")."""
PURPOSE_SKIP = frozenset({"a", "an", "the", "my", "your", "his", "her", "their", "me", "him", "them", "us", "some",
                          "more", "better", "get", "with"})
"""Words passed over to reach what a question is for ("help *me* sleep *better*", "for *my* dog")."""
