#!/usr/bin/env python3
"""Routing speed: median and p95 time to route one question after start-up.

Usage: python benchmarks/router_bench.py [--rounds N] [--article FILE] [--no-ranker] [--passage-model NAME]
Routes every development question and every question of tests/data/paraphrases.tsv
(including off-topic ones, and ASR-style variants with word confidences) N times each,
timing each call with perf_counter_ns, and prints start-up (load) time, per-call figures and
the process's peak RSS. --article: an article of your own (with no intents file beside it, its
built intents, chosen by the learned ranker, comparing by --passage-model; --no-ranker: by cue
words alone). The router keeps
the meaning of the last 512 texts, so only the first round encodes each question: use
--rounds 1 to time encodings.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from voiceskill.router import Router  # noqa: E402
from voiceskill.settings import RouterConfig  # noqa: E402


def load_questions() -> list[str]:
    out = []
    for path in (REPO.parent / "shared" / "eval" / "questions.tsv", REPO / "tests" / "data" / "paraphrases.tsv"):
        if path.exists():
            out += [line.split("\t")[1] for line in path.read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--article", type=Path, default=None, help="an article file (default: the built-in one)")
    ap.add_argument("--no-ranker", action="store_true", help="built intents by cue words alone")
    ap.add_argument("--passage-model", choices=("auto", "e5-small-v2", "all-MiniLM-L6-v2"), default="auto")
    args = ap.parse_args()
    t0 = time.perf_counter()
    router = Router.load(args.article, config=RouterConfig(ranker=not args.no_ranker,
                                                           passage_model=args.passage_model))
    load_ms = (time.perf_counter() - t0) * 1000
    if router.passage_model:
        print(f"built answers compared by {router.passage_model}")
    questions = load_questions()
    with_conf = [(q, [0.8] * len(q.split())) for q in questions]
    times: list[float] = []
    for _ in range(args.rounds):
        for q, conf in with_conf:
            t = time.perf_counter_ns()
            router.route(q)
            times.append((time.perf_counter_ns() - t) / 1e6)
            t = time.perf_counter_ns()
            router.route(q, conf)
            times.append((time.perf_counter_ns() - t) / 1e6)
    times.sort()
    print(f"router load (article + intents + indexes): {load_ms:.1f} ms")
    print(f"questions: {len(questions)} x 2 variants x {args.rounds} rounds = {len(times)} calls")
    print(f"route time: median {statistics.median(times):.3f} ms, p95 {times[int(len(times) * 0.95)]:.3f} ms, "
          f"max {times[-1]:.3f} ms")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
