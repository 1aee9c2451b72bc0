"""``voiceskill ask`` (independent questions) and ``voiceskill chat`` (a conversation)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator

from voiceskill.dialog import Dialog
from voiceskill.router import Reply, Router


def add_article_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--article", metavar="FILE",
                        help="article to answer from (plain text; default: the built-in glute cramps article)")
    parser.add_argument("--intents", metavar="FILE",
                        help="curated intents file (default: ARTICLE.intents.toml beside the article, "
                             "else intents built from the article's sections)")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    ask = sub.add_parser("ask", parents=[common], help="answer typed questions",
                         description="Answer questions from the article. With no QUESTION, reads one "
                                     "question per line from standard input, each answered on its own.")
    ask.add_argument("question", nargs="*", help="the question (several words are joined)")
    ask.add_argument("--json", action="store_true", help="one JSON object per line")
    add_article_options(ask)
    ask.set_defaults(func=run_ask)

    chat = sub.add_parser("chat", parents=[common], help="a typed conversation (repeat, more, stop work)",
                          description="A conversation over standard input: one answer per line, "
                                      "keeping track of the topic for 'say that again' and 'tell me more'.")
    chat.add_argument("--json", action="store_true", help="one JSON object per line")
    add_article_options(chat)
    chat.set_defaults(func=run_chat)


def _lines(stream: Iterable[str]) -> Iterator[str]:
    for line in stream:
        line = line.strip()
        if line:
            yield line


def _emit(reply: Reply, as_json: bool) -> None:
    if as_json:
        print(json.dumps(reply.as_dict(), ensure_ascii=False), flush=True)
    else:
        print(reply.answer, flush=True)


def run_ask(args: argparse.Namespace) -> int:
    router = Router.load(args.article, args.intents)
    questions: Iterable[str] = [" ".join(args.question)] if args.question else _lines(sys.stdin)
    for question in questions:
        _emit(Dialog(router).handle(question), args.json)
    return 0


def run_chat(args: argparse.Namespace) -> int:
    router = Router.load(args.article, args.intents)
    dialog = Dialog(router)
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask about " + router.intents.subject_name + " (Ctrl-D to quit).", file=sys.stderr)
    for line in _lines(sys.stdin):
        _emit(dialog.handle(line), args.json)
    return 0
