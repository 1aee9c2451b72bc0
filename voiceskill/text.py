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
    "gotta": "got to", "kinda": "kind of",
}

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
        elif "'" in tok and tok != UNK:
            out.append(tok.replace("'", ""))
        else:
            out.append(tok)
    return out


def tokens(text: str) -> list[str]:
    """:func:`words` without fillers and hesitations."""
    return [w for w in words(text) if w not in FILLERS]


_IRREGULAR = {"does": "do", "did": "do", "doing": "do", "feet": "foot", "men": "man", "women": "woman"}
_DOUBLE = re.compile(r"([bdfgklmnprtz])\1$")


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A light English stemmer: folds plurals and -ing/-ed/-ly/-ion endings.

    Not a linguistic stemmer; it only has to map the forms people say to one key
    ("hydrated", "hydrating", "hydration", "hydrate" -> "hydrat").
    """
    w = _IRREGULAR.get(word, word)
    if len(w) <= 3 or w == UNK:
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith(("ches", "shes", "xes", "zes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is", "ous")):
        w = w[:-1]
    for suffix in ("ingly", "ing", "edly", "ed", "ation", "ition", "ion", "ly", "ment", "ness"):
        keep = 5 if suffix in ("ly", "ness") else 3
        if w.endswith(suffix) and len(w) - len(suffix) >= keep:
            w = w[: -len(suffix)] + ("at" if suffix == "ation" else "")
            if suffix in ("ing", "ed", "edly", "ingly") and _DOUBLE.search(w):
                w = w[:-1]
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    if w.endswith("y") and len(w) > 3 and w[-2] not in "aeiou":
        w = w[:-1] + "i"
    return w
