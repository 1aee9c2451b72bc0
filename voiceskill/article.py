"""Article loading: turn a published article (as plain text) into sections and sentences.

The input looks like ``voiceskill/data/glute-cramps.txt``: a title line, a byline
(" by Name"), paragraphs separated by blank lines, short heading lines, "Read More: …"
cross-links and a trailing "Write a response". Page furniture (byline, Read More lines,
"Write a response") is dropped; what is left is the article's own text.
"""

from __future__ import annotations

import logging
import re
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from voiceskill.errors import ArticleError

log = logging.getLogger(__name__)

MAX_ARTICLE_BYTES = 1_000_000
"""Largest article accepted, in bytes (a long magazine article is ~50 kB)."""
MAX_HEADING_WORDS = 10

_BYLINE = re.compile(r"^by\s+\S+", re.IGNORECASE)
_READ_MORE = re.compile(r"^read more\s*:", re.IGNORECASE)
_FURNITURE = re.compile(r"\s*(write a response|share this article|advertisement)\s*$", re.IGNORECASE)
# A sentence ends at . ! ? followed by space and an upper-case letter, digit or quote.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])")


@dataclass(frozen=True)
class Sentence:
    text: str
    section: str
    """Heading of the section the sentence belongs to."""
    index: int
    """Position of the sentence in the whole article, from 0."""


@dataclass(frozen=True)
class Section:
    heading: str
    sentences: tuple[Sentence, ...]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass(frozen=True)
class Article:
    title: str
    byline: str | None
    sections: tuple[Section, ...]
    links: tuple[str, ...]
    """The "Read More" cross-links, kept for reference but never spoken."""
    source: str
    """Where the article came from (a path, or ``builtin:NAME``)."""

    @property
    def sentences(self) -> tuple[Sentence, ...]:
        return tuple(s for section in self.sections for s in section.sentences)


def builtin_article_path() -> Path:
    """Path of the article shipped inside the package (the default)."""
    return Path(str(resources.files("voiceskill") / "data" / "glute-cramps.txt"))


def split_sentences(paragraph: str) -> list[str]:
    text = " ".join(paragraph.split())
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _is_heading(block: str) -> bool:
    lines = block.splitlines()
    words = block.split()
    return (len(lines) == 1 and 0 < len(words) <= MAX_HEADING_WORDS
            and not block.rstrip().endswith((".", "!", "?", ":", ";", ",")))


def read_text(path: Path, what: str = "article") -> str:
    """Read a UTF-8 text file with one-line errors for missing, huge, binary or non-UTF-8 files."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ArticleError(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise ArticleError(f"cannot read {what} file {path}: {exc.strerror}") from None
    size = st.st_size
    if stat.S_ISDIR(st.st_mode):
        raise ArticleError(f"{what} path is a directory, not a file: {path}")
    if not stat.S_ISREG(st.st_mode):
        kind = "a named pipe" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
        raise ArticleError(f"{what} path {path} is {kind}, not a regular file: save the text to a file "
                           f"and give its path")
    if size > MAX_ARTICLE_BYTES:
        raise ArticleError(f"{what} file {path} is too large ({size / 1e6:.1f} MB; the limit is "
                           f"{MAX_ARTICLE_BYTES / 1e6:.0f} MB): give one article as plain text")
    try:
        with path.open("rb") as f:
            data = f.read(MAX_ARTICLE_BYTES + 1)  # the file may have grown since stat()
        if len(data) > MAX_ARTICLE_BYTES:
            raise ArticleError(f"{what} file {path} is too large (over {MAX_ARTICLE_BYTES / 1e6:.0f} MB): "
                               f"give one article as plain text")
    except OSError as exc:
        raise ArticleError(f"cannot read {what} file {path}: {exc.strerror}") from None
    if b"\x00" in data:
        raise ArticleError(f"{what} file {path} is binary, not text: give a plain-text UTF-8 file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"{what} file {path} is not UTF-8 text (bad byte at offset {exc.start}): "
                           f"convert it, e.g. `iconv -f latin1 -t utf-8`") from None
    if not text.strip():
        raise ArticleError(f"{what} file {path} is empty")
    return text


def parse_article(text: str, source: str = "<text>") -> Article:
    """Parse article text into title, byline and sections of sentences (furniture dropped)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    if not blocks:
        raise ArticleError(f"article {source} is empty")
    title = " ".join(blocks.pop(0).split())
    byline: str | None = None
    links: list[str] = []
    sections: list[tuple[str, list[str]]] = [(title, [])]
    for block in blocks:
        block = _FURNITURE.sub("", block).strip()
        if not block:
            continue
        flat = " ".join(block.split())
        if byline is None and _BYLINE.match(flat) and len(flat.split()) <= 8:
            byline = flat[3:].strip()
            continue
        if _READ_MORE.match(flat):
            links.append(flat.split(":", 1)[1].strip())
            continue
        if _is_heading(block):
            sections.append((flat, []))
            continue
        sections[-1][1].extend(split_sentences(flat))
    built: list[Section] = []
    index = 0
    for heading, sentences in sections:
        if not sentences:
            continue
        items = tuple(Sentence(s, heading, index + i) for i, s in enumerate(sentences))
        index += len(items)
        built.append(Section(heading, items))
    if not built:
        raise ArticleError(f"article {source} has a title but no paragraphs of text")
    log.debug("parsed %s: %d sections, %d sentences", source, len(built), index)
    return Article(title=title, byline=byline, sections=tuple(built), links=tuple(links), source=source)


def load_article(path: str | Path | None = None) -> Article:
    """Load an article file, or the built-in one when ``path`` is None."""
    if path is None:
        return parse_article(read_text(builtin_article_path()), source="builtin:glute-cramps")
    path = Path(path)
    return parse_article(read_text(path), source=str(path))
