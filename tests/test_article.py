"""Article loading: structure, furniture dropped, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED
from voiceskill.article import builtin_article_path, load_article, parse_article, split_sentences
from voiceskill.errors import ArticleError


def test_builtin_article_is_the_shared_one() -> None:
    assert builtin_article_path().read_bytes() == (SHARED / "article" / "glute-cramps.txt").read_bytes()


def test_structure_of_builtin_article() -> None:
    article = load_article()
    assert article.title == "Glutes Cramping"
    assert article.byline == "Bethany Kochan"
    assert [s.heading for s in article.sections] == [
        "Glutes Cramping", "Signs of Muscle Cramp", "Causes of Glute Cramps", "Treating Glute Cramps"]
    assert article.links == ("Causes of Hip and Buttock Pain", "Exercises to Reduce Pain in Gluteus Maximus")
    texts = [s.text for s in article.sentences]
    assert "Stay hydrated by drinking a minimum of 64 ounces of water each day." in texts
    assert [s.index for s in article.sentences] == list(range(len(texts)))
    joined = " ".join(texts)
    for furniture in ("Read More", "Write a response", "Bethany", "Kochan"):
        assert furniture not in joined


def test_sentences_split_on_end_punctuation_only() -> None:
    assert split_sentences("One is 1.5 kg. Two? Three! four") == ["One is 1.5 kg.", "Two?", "Three! four"]


def test_windows_line_endings_and_bom() -> None:
    article = parse_article("\ufeffTitle\r\n\r\nHeading\r\n\r\nA sentence. Another one.\r\n")
    assert [s.text for s in article.sentences] == ["A sentence.", "Another one."]


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"   \n\n  ", "empty"),
    (b"Caf\xe9 cramps\n\nLatin-1 text.", "not UTF-8"),
    (b"\x00\x01\x02binary", "binary"),
    (b"Only a title", "no paragraphs"),
])
def test_bad_articles_are_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(content)
    with pytest.raises(ArticleError, match=message) as err:
        load_article(path)
    assert "\n" not in str(err.value)


def test_huge_and_missing_files(tmp_path: Path) -> None:
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"Title\n\n" + b"A sentence about cramps. " * 100_000)
    with pytest.raises(ArticleError, match="too large"):
        load_article(huge)
    with pytest.raises(ArticleError, match="not found"):
        load_article(tmp_path / "missing.txt")
    with pytest.raises(ArticleError, match="directory"):
        load_article(tmp_path)
