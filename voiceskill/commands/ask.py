"""``voiceskill ask`` (independent questions) and ``voiceskill chat`` (a conversation)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

from voiceskill.cliutil import add_article_options, add_config_option, app_config
from voiceskill.dialog import Dialog
from voiceskill.errors import VoiceskillError
from voiceskill.router import Reply, Router

MAX_QUESTION_CHARS = 1000
"""A longer line is not a question (a pasted file?): it gets an error line and is not routed."""
_DRAIN_CHARS = 1 << 16


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    ask = sub.add_parser("ask", parents=[common], help="answer typed questions",
                         description="Answer questions from the article. With no QUESTION, reads one "
                                     "question per line from standard input, each answered on its own.")
    ask.add_argument("question", nargs="*", help="the question (several words are joined)")
    ask.add_argument("--json", action="store_true", help="one JSON object per line")
    add_article_options(ask)
    add_config_option(ask)
    ask.set_defaults(func=run_ask)

    chat = sub.add_parser("chat", parents=[common], help="a typed conversation (repeat, more, stop work)",
                          description="A conversation over standard input: one answer per line, "
                                      "keeping track of the topic for 'say that again' and 'tell me more'.")
    chat.add_argument("--json", action="store_true", help="one JSON object per line")
    add_article_options(chat)
    add_config_option(chat)
    chat.set_defaults(func=run_chat)


class QuestionTooLong(VoiceskillError):
    """A typed question longer than :data:`MAX_QUESTION_CHARS`."""


def _lines(stream: TextIO | None) -> Iterator[str | QuestionTooLong]:
    """Non-blank lines of ``stream``, stripped; a line longer than :data:`MAX_QUESTION_CHARS` is
    read past in bounded pieces (never held whole) and comes out as a :class:`QuestionTooLong`."""
    if stream is None:
        raise VoiceskillError("standard input is closed and no question was given; pass the question "
                              "as arguments (voiceskill ask \"...\") or pipe questions in, one per line")
    number = 0
    while True:
        line = stream.readline(MAX_QUESTION_CHARS + 2)
        if not line:
            return
        number += 1
        length = len(line.rstrip("\r\n"))
        rest = line
        while not rest.endswith("\n"):  # the line goes on: count the rest without keeping it
            rest = stream.readline(_DRAIN_CHARS)
            if not rest:
                break
            length += len(rest.rstrip("\r\n"))
        if length > MAX_QUESTION_CHARS:
            yield QuestionTooLong(f"line {number}: a question of {length} characters is longer than the "
                                  f"{MAX_QUESTION_CHARS}-character limit; ask it in fewer words")
            continue
        text = line.strip()
        if text:
            yield text


def _emit(reply: Reply, as_json: bool) -> None:
    if as_json:
        print(json.dumps(reply.as_dict(), ensure_ascii=False), flush=True)
    else:
        print(reply.answer, flush=True)


def _router(args: argparse.Namespace) -> Router:
    config = app_config(args, {"general.article": args.article})
    return Router.load(config.general.article, args.intents, config.router)


def _answer_all(lines: Iterable[str | QuestionTooLong], handle: Callable[[str], Reply], as_json: bool) -> int:
    failed = 0
    for line in lines:
        if isinstance(line, QuestionTooLong):
            failed += 1
            print(f"voiceskill: error: {line}", file=sys.stderr, flush=True)
            continue
        _emit(handle(line), as_json)
    return 1 if failed else 0


def run_ask(args: argparse.Namespace) -> int:
    router = _router(args)
    if args.question:
        question = " ".join(args.question)
        if len(question) > MAX_QUESTION_CHARS:
            raise QuestionTooLong(f"a question of {len(question)} characters is longer than the "
                                  f"{MAX_QUESTION_CHARS}-character limit; ask it in fewer words")
        _emit(Dialog(router).handle(question), args.json)
        return 0
    return _answer_all(_lines(sys.stdin), lambda q: Dialog(router).handle(q), args.json)


def run_chat(args: argparse.Namespace) -> int:
    router = _router(args)
    dialog = Dialog(router)
    lines = _lines(sys.stdin)
    if sys.stdin is not None and sys.stdin.isatty():
        print("Ask about " + router.intents.subject_name + " (Ctrl-D to quit).", file=sys.stderr)
    return _answer_all(lines, dialog.handle, args.json)
