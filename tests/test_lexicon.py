"""WordNet as a word list: which typed words are English (and so not typing slips)."""

from __future__ import annotations

from pathlib import Path

import pytest

from voiceskill.lexicon import is_english_word


@pytest.mark.parametrize("word,english", [
    ("single", True), ("nights", True), ("tighter", True), ("matches", True), ("worse", True),
    ("stretchign", False), ("shoudl", False), ("protien", False),
])
def test_english_words_are_wordnet_words_inflected_or_not(word: str, english: bool) -> None:
    assert is_english_word(word) is english


def test_english_words_unknown_without_wordnet(tmp_path: Path) -> None:
    assert is_english_word("single", tmp_path) is None
