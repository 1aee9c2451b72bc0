"""``voiceskill intents``: draft an intents file from an article, and check one."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from voiceskill.article import builtin_article_path, load_article, read_text
from voiceskill.builder import Draft, draft_intents
from voiceskill.errors import VoiceskillError
from voiceskill.intents import builtin_intents_path, intents_path_for
from voiceskill.intents_tools import (
    CheckReport,
    check_intents,
    draft_toml,
    parse_intents_text,
    read_questions,
    read_topics,
    topic_judge,
)
from voiceskill.lexicon import WordNet, wordnet_available

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    intents = sub.add_parser("intents", parents=[common], help="draft or check an article's intents file",
                             description="Curate the intents that route questions to article text.")
    isub = intents.add_subparsers(dest="intents_command", metavar="COMMAND", required=True)

    draft = isub.add_parser("draft", parents=[common], help="write a commented ARTICLE.intents.toml to edit",
                            description="Write the intents voiceskill would build from ARTICLE as a "
                                        "commented intents file (answers quoted from the article, "
                                        "generated examples and cues) for a person to edit.")
    draft.add_argument("article", metavar="ARTICLE", help="the article (plain text)")
    draft.add_argument("-o", "--output", metavar="FILE",
                       help="where to write (default: ARTICLE.intents.toml beside the article; - for stdout)")
    draft.add_argument("--force", action="store_true", help="replace an existing file")
    draft.set_defaults(func=run_draft)

    check = isub.add_parser("check", parents=[common], help="check an intents file against its article",
                            description="Check that every answer is article text, every sentence worth "
                                        "answering is reachable, no example collides between intents, "
                                        "how questions route, and which words the speech model cannot "
                                        "hear. Exits 1 on errors.")
    check.add_argument("article", metavar="ARTICLE", nargs="?",
                       help="the article (default: the built-in one with its curated intents)")
    check.add_argument("--intents", metavar="FILE",
                       help="intents file (default: ARTICLE.intents.toml beside it, else built intents)")
    check.add_argument("--questions", metavar="FILE",
                       help="questions to route, one a line (or TOPIC<TAB>QUESTION) for the table")
    check.add_argument("--topics", metavar="FILE",
                       help="TOPIC<TAB>REGEX lines: mark each routed question right or wrong")
    check.add_argument("--model", metavar="DIR", help="speech model whose vocabulary to check against")
    check.set_defaults(func=run_check)


def _draft(article: Any) -> Draft:
    if not wordnet_available():
        log.warning("WordNet is not installed (Debian package wordnet-base): no synonyms in the draft")
        return draft_intents(article, None)
    with WordNet() as wn:
        return draft_intents(article, wn)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_draft(args: argparse.Namespace) -> int:
    article_path = Path(args.article)
    article = load_article(article_path)
    text = draft_toml(_draft(article), article)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.output) if args.output else intents_path_for(article_path)
    if out.exists() and not args.force:
        raise VoiceskillError(f"{out} exists: pass --force to replace it, or -o FILE to write elsewhere")
    if not out.parent.is_dir():
        raise VoiceskillError(f"cannot write {out}: no such directory {out.parent}")
    try:
        _write_atomic(out, text)
    except OSError as exc:
        raise VoiceskillError(f"cannot write {out}: {exc.strerror}") from None
    print(f"wrote {out} ({len(text.splitlines())} lines): edit it, then `voiceskill intents check "
          f"{article_path}`", file=sys.stderr)
    return 0


def _model_words(model: str | None) -> frozenset[str] | None:
    from voiceskill.models import resolve_model_dir
    from voiceskill.recognizer import read_lexicon
    try:
        model_dir = resolve_model_dir(model)
    except VoiceskillError as exc:
        if model:
            raise
        log.warning("no speech model (%s): words the model cannot hear are not checked", exc)
        return None
    words = read_lexicon(Path(model_dir))
    return words or None


def run_check(args: argparse.Namespace) -> int:
    article_path = Path(args.article) if args.article else builtin_article_path()
    article = load_article(article_path if args.article else None)
    if args.intents:
        intents_file: Path | None = Path(args.intents)
    elif not args.article:
        intents_file = builtin_intents_path("glute-cramps.intents.toml")
    else:
        beside = intents_path_for(article_path)
        intents_file = beside if beside.exists() else None
    if intents_file is not None:
        data = parse_intents_text(read_text(intents_file, what="intents"), f"intents file {intents_file}")
        source = f"intents file {intents_file}"
    else:
        data = _draft(article).as_data()
        source = f"intents built from {article_path}"
    questions = read_questions(read_text(Path(args.questions), what="questions").splitlines()) \
        if args.questions else []
    judge = topic_judge(read_topics(read_text(Path(args.topics), what="topics").splitlines())) \
        if args.topics else None
    report = check_intents(data, article, source, questions, judge, _model_words(args.model))
    _print_report(report, source)
    return 0 if report.ok else 1


def _print_report(report: CheckReport, source: str) -> None:
    print(f"checked {source}")
    for error in report.errors:
        print(f"error: {error}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    if report.routes:
        width = min(60, max(len(q) for q, *_ in report.routes))
        print(f"\n{'question':<{width}}  {'topic':<12} {'intent':<28} conf  ok")
        for question, topic, intent, conf, right in report.routes:
            mark = "" if right is None else ("yes" if right else "NO")
            print(f"{question[:width]:<{width}}  {topic[:12]:<12} {str(intent)[:28]:<28} {conf:.2f}  {mark}")
        judged = [r for *_, r in report.routes if r is not None]
        if judged:
            print(f"right: {sum(judged)}/{len(judged)} ({100 * sum(judged) / len(judged):.1f} %)")
    if report.unknown_words:
        print(f"\nwords the speech model does not know (never heard in grammar mode): "
              f"{', '.join(report.unknown_words)}")
    print(f"\n{len(report.errors)} error(s), {len(report.warnings)} warning(s)")



