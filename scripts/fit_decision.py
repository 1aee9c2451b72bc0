#!/usr/bin/env python3
"""Fit the decision step's learned model (voiceskill/decide.py) and write its weights.

Usage: .venv/bin/python scripts/fit_decision.py [--sets SPEC] [--min-confidence T] [--write]
       .venv/bin/python scripts/fit_decision.py --judge SETS

Spoken tuning questions (never a held-out set, see the README's "Development"), as
`benchmarks/recognizer_bench.py` hears them in sessions (gym chatter clean, 10 and 5 dB, gym
music 10 and 5 dB): every pass's stored hypothesis (that benchmark's cache; a set whose
hypotheses are not stored is heard first, which takes long) is routed by the built-in article's
curated intents, and every candidate intent (voiceskill.decide.candidates) is judged right or
not for the question against ../shared/eval/topics.tsv (for an off-topic question no answer is
right). A logistic model of the candidates' features is fitted to that.

It prints right / wrong / off-topic answered per tuning set and in all, by the rules alone
(`[decision] learned = false`) and at a range of thresholds with weights fitted on the other
sets only. With --write it replaces voiceskill/data/decision.toml with weights fitted on all of
them and the threshold --min-confidence (temporary file, then rename). The hypotheses are what
this machine's recognizer heard: Vosk is not deterministic, so another machine's differ a little.
With --judge it only judges the sets named (held-out ones: totals per condition, no question),
by the rules alone and with the shipped weights.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "benchmarks")]

import evalsets  # noqa: E402
import recognizer_bench as bench  # noqa: E402
from audio_fixtures import render_questions  # noqa: E402

from voiceskill import decide as decision  # noqa: E402
from voiceskill.files import replacing  # noqa: E402
from voiceskill.linear import Model  # noqa: E402
from voiceskill.passes import Heard  # noqa: E402
from voiceskill.router import Reply, Router  # noqa: E402
from voiceskill.settings import DecisionConfig, RecognizerConfig  # noqa: E402

TUNING = "dev,a,c,e,f,g,i,j,n,o"
THRESHOLDS = (0.6, 0.7, 0.75, 0.78, 0.8, 0.82, 0.85, 0.9)
CONDITIONS = (("gym", ("10", "5")), ("music", ("10", "5")))


def paths_of(name: str) -> list[Path]:
    if name == "dev":
        return [evalsets.EVAL / "questions.tsv", evalsets.EVAL / "questions-more.tsv"]
    return [evalsets.OWN / f"styles-{name}.tsv"]


@dataclass
class Question:
    group: str
    condition: str
    topic: str
    first: Heard | None
    routed: list[tuple[Heard, Reply]]
    meanings: list[Mapping[str, float]]
    names: list[str]
    features: np.ndarray
    right: np.ndarray  # per candidate: its answer is right for the question


def read_all(names: list[str], jobs: int) -> list[Question]:
    """:func:`read` of every set, ``jobs`` sets at a time (each process with its own router)."""
    with ProcessPoolExecutor(max(1, jobs)) as pool:
        return [q for part in pool.map(_read_alone, names) for q in part]


def _read_alone(name: str) -> list[Question]:
    return read(name, Router.load())


def read(name: str, router: Router) -> list[Question]:
    passes = RecognizerConfig().passes
    qset = bench.question_set(paths_of(name))
    out = []
    for noise, snrs in CONDITIONS:
        rows = render_questions(qset, rotations=1, snrs=snrs, noise=noise)
        if noise != CONDITIONS[0][0]:
            rows = [r for r in rows if r.snr != "clean"]  # clean audio is the same whatever the noise
        heard = bench.hypotheses(rows, passes, True, 1, True)
        for r in rows:
            hyps = heard[str(r.path)]
            routed = decision._route(hyps, router)
            meanings = decision.meanings_of(routed, router)
            if meanings is None:
                raise SystemExit("fit_decision: the semantic model is not installed (scripts/dev.sh setup)")
            names, x = decision.candidates(routed, meanings, router)
            right = np.array([r.topic != evalsets.FALLBACK and evalsets.judge(r.topic, n, router.answer(n))
                              for n in names], bool)
            out.append(Question(name, "clean" if r.snr == "clean" else f"{noise} {r.snr} dB", r.topic,
                                hyps[0] if hyps else None, routed, meanings, names, x, right))
    return out


def fit(qs: list[Question], threshold: float, l2: float = 1e-3, steps: int = 2000) -> decision.DecisionWeights:
    x = np.concatenate([q.features for q in qs if q.names])
    y = np.concatenate([q.right for q in qs if q.names]).astype(float)
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-9] = 1.0
    mean[0], scale[0] = 0.0, 1.0  # the constant
    xn = (x - mean) / scale
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xn @ w))
        w -= 0.5 * (xn.T @ (p - y) / len(y) + l2 * w)
    return decision.DecisionWeights(Model(decision.FEATURES, tuple(mean), tuple(scale), tuple(w)), threshold)


def kind(q: Question, d: decision.Decision) -> str:
    """As the benchmark judges: right, wrong, missed (on-topic) or right, answered (off-topic)."""
    intent = d.reply.intent if d.caught and d.reply is not None else None
    answer = d.reply.answer if d.caught and d.reply is not None else ""
    if q.topic == evalsets.FALLBACK:
        return "answered" if intent is not None and evalsets.states_a_fact(answer) else "right"
    if evalsets.judge(q.topic, intent, answer):
        return "right"
    return "missed" if intent is None or not answer else "wrong"


def figures(kinds: list[tuple[Question, str]]) -> str:
    on = [k for q, k in kinds if q.topic != evalsets.FALLBACK]
    off = [k for q, k in kinds if q.topic == evalsets.FALLBACK]
    n = max(1, len(on))
    return (f"right {on.count('right')} ({100 * on.count('right') / n:.1f} %)  wrong {on.count('wrong')} "
            f"({100 * on.count('wrong') / n:.1f} %)  off-topic answered {off.count('answered')}/{len(off)}")


def judge(sets: list[str], router: Router, jobs: int) -> int:
    """Totals over ``sets`` per condition, rules alone -> the shipped weights at their threshold."""
    qs = read_all(sets, jobs)
    print(f"sets {','.join(sets)} (totals only), rules alone -> learned (shipped weights):")
    for cond in ["all", *sorted({q.condition for q in qs})]:
        pick = [q for q in qs if cond in ("all", q.condition)]
        rules = [(q, kind(q, decision.decide_routed(q.routed, q.meanings, q.first, router,
                                                    DecisionConfig(learned=False)))) for q in pick]
        learned = [(q, kind(q, decision.decide_routed(q.routed, q.meanings, q.first, router))) for q in pick]
        print(f"  {cond:<14}{figures(rules)}  ->  {figures(learned)}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default=TUNING, help=f"tuning sets (default {TUNING}; dev = the shared questions)")
    ap.add_argument("--min-confidence", type=float, default=0.8, help="threshold written with the weights")
    ap.add_argument("--write", action="store_true", help="write voiceskill/data/decision.toml")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="sets read at once")
    ap.add_argument("--judge", metavar="SETS", help="instead: judge these sets (e.g. held-out ones) with the "
                    "shipped weights and by the rules alone, and print only totals per condition")
    args = ap.parse_args()
    router = Router.load()
    if args.judge:
        return judge(args.judge.split(","), router, args.jobs)
    groups = args.sets.split(",")
    qs = read_all(groups, args.jobs)
    rules = DecisionConfig(learned=False)

    def decided(q: Question, config: DecisionConfig, weights: decision.DecisionWeights | None = None) -> str:
        return kind(q, decision.decide_routed(q.routed, q.meanings, q.first, router, config, weights))

    by_rules = [(q, decided(q, rules)) for q in qs]
    folds = {g: fit([q for q in qs if q.group != g], 0.5) for g in groups}
    print("each set judged by weights fitted on the other sets; right / wrong of the on-topic questions")
    print(f"{'all':<6}rules alone:           {figures(by_rules)}")
    judged = {}
    for t in THRESHOLDS:
        config = replace(DecisionConfig(), learned_min_confidence=t)
        judged[t] = [(q, decided(q, config, folds[q.group])) for q in qs]
        print(f"{'all':<6}learned at {t:.2f}:       {figures(judged[t])}")
    at = min(THRESHOLDS, key=lambda t: abs(t - args.min_confidence))
    print(f"per set and condition, rules alone -> learned at {at:.2f}:")
    for key in [*groups, *sorted({q.condition for q in qs})]:
        pick = [i for i, q in enumerate(qs) if key in (q.group, q.condition)]
        print(f"  {key:<14}{figures([by_rules[i] for i in pick])}  ->  {figures([judged[at][i] for i in pick])}")
    if args.write:
        path = decision.default_weights_path()
        with replacing(path) as tmp_path:
            tmp_path.write_text(fit(qs, args.min_confidence).to_toml())
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
