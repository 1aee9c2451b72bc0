#!/usr/bin/env python3
"""Built intents (an article with no intents file): how well typed questions route.

Usage: python benchmarks/built_intents_bench.py [--voiceskill PATH] [--passage-model NAME]

Runs `voiceskill ask --json` (one process per question set, questions on stdin) on:
  - the built-in article copied to a temporary file with no intents file beside it, on
    ../shared/eval/questions.tsv + questions-more.tsv and tests/data/blind.tsv (development),
    and on our blind style sets tests/data/styles-*.tsv (the held-out ones: totals only), judged
    by tests/evalsets.py `answer_ok` against ../shared/eval/topics.tsv;
  - the same copy with the file `voiceskill intents draft` writes beside it (drafted intents);
  - our other articles (tests/data/shin-splints.txt, side-stitch.txt, doms.txt) on their own
    question sets.
Built intents are chosen by the learned ranker (voiceskill/ranker.py), comparing questions with
the answers by `--passage-model` (`[router] passage_model`, default auto: e5-small-v2 when
installed); every built-intent line is also given by cue words alone (`[router] ranker = false`),
for comparison. Prints per set:
right topic %, wrong topic % (answered with text that is not the topic's), off-topic answered
(of the off-topic questions), and whether "tell me more" after each built intent says something
new (`voiceskill chat`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import evalsets  # noqa: E402

SHARED = REPO.parent / "shared"
OWN = REPO / "tests" / "data"
OTHER_ARTICLES = ("shin-splints", "side-stitch", "doms")
"""Our other articles (tests only), each with NAME.questions.tsv and NAME.topics.tsv."""


def ask(voiceskill: str, article: Path, questions: list[str], config: Path | None = None) -> list[dict[str, object]]:
    extra = ["--config", str(config)] if config is not None else []
    out = subprocess.run([voiceskill, "-q", "ask", "--json", "--article", str(article), *extra],
                         input="\n".join(questions) + "\n", capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def score(voiceskill: str, article: Path, rows: list[tuple[str, str]],
          patterns: dict, config: Path | None = None) -> tuple[int, int, int, int, int]:
    replies = ask(voiceskill, article, [q for _, q in rows], config)
    assert len(replies) == len(rows), (len(replies), len(rows))
    return evalsets.tally(rows, [(r["intent"], str(r["answer"])) for r in replies], patterns)


def line(name: str, figures: tuple[int, int, int, int, int]) -> str:
    right, wrong, n_on, off, n_off = figures
    return (f"{name:<44} right {right}/{n_on} = {100 * right / n_on:5.1f} %   wrong {wrong} = "
            f"{100 * wrong / n_on:4.1f} %   off-topic answered {off}/{n_off}")


def more_says_new(voiceskill: str, article: Path, rows: list[tuple[str, str]],
                  config: Path | None = None) -> tuple[int, int]:
    """Each answered question then "tell me more": how often the second answer is new text."""
    questions = [q for t, q in rows if t != evalsets.FALLBACK]
    script = "".join(f"{q}\ntell me more\n" for q in questions)
    extra = ["--config", str(config)] if config is not None else []
    out = subprocess.run([voiceskill, "-q", "chat", "--json", "--article", str(article), *extra], input=script,
                         capture_output=True, text=True, check=True)
    replies = [json.loads(x) for x in out.stdout.splitlines() if x.strip()]
    new = total = 0
    for first, second in zip(replies[::2], replies[1::2]):
        if first["intent"] is None:
            continue
        total += 1
        new += bool(second["answer"]) and second["answer"] not in first["answer"] and \
            not str(second["answer"]).startswith("That's all")
    return new, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voiceskill", default=str(REPO / ".venv" / "bin" / "voiceskill"))
    ap.add_argument("--passage-model", choices=("auto", "e5-small-v2", "all-MiniLM-L6-v2"), default="auto",
                    help="[router] passage_model for built intents (default %(default)s)")
    args = ap.parse_args()
    vs = args.voiceskill
    patterns = evalsets.load_topics()
    rows = (evalsets.questions(SHARED / "eval" / "questions.tsv")
            + evalsets.questions(SHARED / "eval" / "questions-more.tsv") + evalsets.questions(OWN / "blind.tsv"))
    with tempfile.TemporaryDirectory() as tmp:
        cues_only = Path(tmp) / "cues-only.toml"
        cues_only.write_text("[router]\nranker = false\n")
        ranked = Path(tmp) / "ranked.toml"
        ranked.write_text(f'[router]\npassage_model = "{args.passage_model}"\n')
        print(f"passage model: {args.passage_model}")

        def both(name: str, article: Path, rows: list[tuple[str, str]], patterns: dict) -> None:
            print(line(name, score(vs, article, rows, patterns, ranked)))
            print(line("    by cue words alone", score(vs, article, rows, patterns, cues_only)))

        copy = Path(tmp) / "article.txt"
        shutil.copyfile(REPO / "voiceskill" / "data" / "glute-cramps.txt", copy)
        print(f"questions: {len(rows)} (questions.tsv + questions-more.tsv + blind.tsv)")
        both("built-in article, built intents", copy, rows, patterns)
        # our blind style sets (evalsets.STYLE_SETS; the held-out ones: totals only)
        for path in evalsets.style_sets():
            both(f"  {path.name}", copy, evalsets.questions(path), patterns)
        new, total = more_says_new(vs, copy, rows, ranked)
        print(f"{'  tell me more after a built intent':<44} new text {new}/{total}")
        drafted = Path(tmp) / "drafted.txt"
        shutil.copyfile(copy, drafted)
        subprocess.run([vs, "-q", "intents", "draft", str(drafted)], check=True, capture_output=True)
        print(line("built-in article, `intents draft` file", score(vs, drafted, rows, patterns, ranked)))
        print(line("built-in article, curated intents", score(vs, REPO / "voiceskill" / "data" / "glute-cramps.txt",
                                                             rows, patterns)))
        for name in OTHER_ARTICLES:
            article = OWN / f"{name}.txt"
            own_rows = evalsets.questions(OWN / f"{name}.questions.tsv")
            both(f"{name}.txt, built", article, own_rows, evalsets.load_topics(OWN / f"{name}.topics.tsv"))
            new, total = more_says_new(vs, article, own_rows, ranked)
            print(f"{'  tell me more after a built intent':<44} new text {new}/{total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
