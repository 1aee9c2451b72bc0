#!/usr/bin/env python3
"""Typed questions through the router: right topic, wrong topic, didn't answer, off-topic answered.

Usage: python benchmarks/typed_bench.py [TSV ...] [--misses]

Each TSV has lines ``topic<TAB>question`` (shared/eval format). Default: the shared development
sets and our own sets in tests/data. A question on the article is *right* when the answer matches
its topic's regex (shared/eval/topics.tsv), *wrong* when another article answer is given, *missed*
when the coach falls back; an off-topic question is *answered* when an article fact is spoken.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from evalsets import EVAL, FALLBACK, OWN, judge, questions, states_a_fact, style_sets, with_settings  # noqa: E402
from voiceskill.router import Router  # noqa: E402
from voiceskill.settings import RouterConfig  # noqa: E402

DEFAULT = [EVAL / "questions.tsv", EVAL / "questions-more.tsv", OWN / "blind.tsv", OWN / "paraphrases.tsv",
           *style_sets()]


def evaluate(router: Router, rows: list[tuple[str, str]], misses: bool) -> dict[str, int]:
    count = {"on": 0, "right": 0, "wrong": 0, "missed": 0, "off": 0, "off_answered": 0}
    for topic, question in rows:
        reply = router.route(question)
        ok = judge(topic, reply.intent, reply.answer)
        if topic == FALLBACK:
            count["off"] += 1
            answered = reply.intent is not None and states_a_fact(reply.answer)
            count["off_answered"] += answered
            kind = "ANSWERED" if answered else ""
        else:
            count["on"] += 1
            kind = "right" if ok else ("missed" if reply.intent is None or not reply.answer else "wrong")
            count[kind] += 1
            kind = "" if ok else kind.upper()
        if misses and kind:
            print(f"  {kind:<8} {topic:<12} {reply.intent or '-':<12} {reply.confidence:.2f}  {question}")
    return count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="*", type=Path)
    ap.add_argument("--misses", action="store_true", help="list every miss")
    ap.add_argument("--router", default="", help="[router] settings to try, e.g. min_confidence=0.45")
    args = ap.parse_args()
    try:
        router = Router.load(config=with_settings(RouterConfig(), args.router))
    except ValueError as e:
        raise SystemExit(f"typed_bench: bad setting: {e}") from None
    print(f"{'set':<28}{'on':>5}{'right':>9}{'wrong':>9}{'missed':>9}{'off-topic answered':>20}")
    for path in args.sets or DEFAULT:
        if not path.exists():
            continue
        if args.misses:
            print(path.name)
        c = evaluate(router, questions(path), args.misses)
        on = max(1, c["on"])
        print(f"{path.name:<28}{c['on']:>5}{100 * c['right'] / on:>8.1f}%{100 * c['wrong'] / on:>8.1f}%"
              f"{100 * c['missed'] / on:>8.1f}%{c['off_answered']:>14}/{c['off']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
