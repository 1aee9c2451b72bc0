#!/usr/bin/env python3
"""Fit the learned ranker for built intents (voiceskill/ranker.py) and write its weights.

Usage: .venv/bin/python scripts/fit_ranker.py [--sets SPEC] [--passage-model NAME] [--write]

Questions about several articles, each read with intents built from the article alone (the
built-in article is copied with no intents file beside it):

  - the built-in article: the tuning sets (tests/data/styles-X.tsv, "dev": ../shared/eval/
    questions.tsv + questions-more.tsv + tests/data/blind.tsv; never a held-out set, see the
    README's "Development");
  - our other articles, tests/data/NAME.txt with NAME.questions.tsv and NAME.topics.tsv.

Every question is read by the router (`Router.ranking_inputs`) and every built intent's answer
is judged for it against the article's topics file. Then:

  - choose: a conditional logit over the intents' features; the likelihood of a question is the
    probability of all the intents whose answer is right for it (off-topic questions take no part);
  - trust: a logistic model of the chosen intent's features, the target being "its answer is right".

It prints right / wrong / off-topic answered for each article without the ranker and, at a range
of `[router] ranker_min_confidence`, with weights fitted on the other groups only (a group is one
set of the built-in article, or one other article). With --write it replaces
the passage model's weights (voiceskill/data/ranker.toml for all-MiniLM-L6-v2,
ranker-e5-small-v2.toml for e5-small-v2; `--passage-model`) with weights fitted on all of them and
the threshold `--min-confidence` (temporary file, then rename).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import evalsets  # noqa: E402

from voiceskill import ranker  # noqa: E402
from voiceskill.files import replacing  # noqa: E402
from voiceskill.router import Router  # noqa: E402
from voiceskill.settings import PassageModel, RouterConfig  # noqa: E402

TUNING = "dev,a,c,e,f,g,i,j,n,o"
OTHER_ARTICLES = "shin-splints,side-stitch,doms"
THRESHOLDS = (0.5, 0.6, 0.65, 0.7, 0.72, 0.74, 0.76, 0.8, 0.9)


def rows_of(name: str) -> list[tuple[str, str]]:
    """The questions of a tuning set of the built-in article."""
    if name == "dev":
        return (evalsets.questions(evalsets.EVAL / "questions.tsv")
                + evalsets.questions(evalsets.EVAL / "questions-more.tsv")
                + evalsets.questions(evalsets.OWN / "blind.tsv"))
    return evalsets.questions(evalsets.OWN / f"styles-{name}.tsv")


@dataclass
class Question:
    article: str
    group: str  # the fold it is judged in
    says: np.ndarray  # [i, s]: intent i's answer says sentence s
    off_topic: bool
    features: np.ndarray | None  # None: the ranker is not asked (reply below)
    right: np.ndarray | None  # per intent: its answer is right for this question
    evidence: ranker.Evidence | None
    plain_good: bool  # the router's reply without the ranker, judged as the benchmarks judge it
    plain_answered: bool


def zero_weights() -> ranker.RankerWeights:
    def model(names: tuple[str, ...]) -> ranker.Model:
        n = len(names)
        return ranker.Model(names, (0.0,) * n, (1.0,) * n, (0.0,) * n)

    return ranker.RankerWeights(model(ranker.CHOOSE_FEATURES), model(ranker.TRUST_FEATURES))


def read(article: Path, groups: dict[str, list[tuple[str, str]]], topics_file: Path, name: str,
         passage_model: PassageModel) -> list[Question]:
    """The questions of ``groups`` (group -> rows) about ``article``, read with built intents."""
    patterns = evalsets.load_topics(topics_file)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "article.txt"  # no intents file beside it
        shutil.copyfile(article, copy)
        router = Router.load(copy, config=RouterConfig(passage_model=passage_model), ranker_weights=zero_weights())
        by_cues = Router.load(copy, config=replace(RouterConfig(), ranker=False))
    says = router._says
    if says is None or router.passage_model != passage_model:
        raise SystemExit(f"fit_ranker: {passage_model} is not installed (scripts/dev.sh setup)")
    topics = router.intents.topics
    out = []
    for group, rows in groups.items():
        for topic, q in rows:
            off = patterns[topic] is None
            reply = by_cues.route(q)
            good = evalsets.answer_ok(topic, reply.intent, reply.answer, patterns)
            inputs = router.ranking_inputs(q)
            feats = right = None
            if inputs is not None:
                feats = ranker.choose_features(inputs.names, inputs.cue, inputs.meaning)
                right = np.array([not off and evalsets.answer_ok(topic, i.name, i.answer, patterns) for i in topics])
            out.append(Question(name, group, says, off, feats, right, inputs, good,
                                reply.intent is not None))
    return out


def read_all(tuning: list[str], others: list[str], passage_model: PassageModel) -> list[Question]:
    qs = read(REPO / "voiceskill" / "data" / "glute-cramps.txt", {s: rows_of(s) for s in tuning},
              evalsets.EVAL / "topics.tsv", "glute-cramps", passage_model)
    for name in others:
        qs += read(evalsets.OWN / f"{name}.txt", {name: evalsets.questions(evalsets.OWN / f"{name}.questions.tsv")},
                   evalsets.OWN / f"{name}.topics.tsv", name, passage_model)
    return qs


def _standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = x.mean(0), x.std(0)
    return mean, np.where(scale > 1e-9, scale, 1.0)


def fit_choose(qs: list[Question], l2: float = 1e-3, steps: int = 1500) -> ranker.Model:
    """The conditional logit over intents; a question's likelihood is the probability of all the
    intents whose answer is right for it."""
    used = [q for q in qs if q.features is not None and q.right is not None and q.right.any()]
    mean, scale = _standardize(np.concatenate([q.features for q in used if q.features is not None]))
    # questions about one article have as many intents: one array per article
    batches = []
    for article in sorted({q.article for q in used}):
        mine = [q for q in used if q.article == article]
        x = (np.stack([q.features for q in mine if q.features is not None]) - mean) / scale
        batches.append((x, np.stack([q.right for q in mine if q.right is not None]).astype(float)))
    w = np.zeros(len(mean))
    for _ in range(steps):
        grad = np.zeros_like(w)
        for x, y in batches:
            z = x @ w
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            target = p * y
            target /= target.sum(1, keepdims=True)
            grad += ((p - target)[..., None] * x).sum((0, 1))
        w -= grad / len(used) + l2 * w
    return ranker.Model(ranker.CHOOSE_FEATURES, tuple(mean), tuple(scale), tuple(w))


def chosen(model: ranker.Model, q: Question) -> tuple[int, np.ndarray]:
    """The intent the ranker chooses for a question, and its trust features."""
    assert q.features is not None and q.evidence is not None
    p = ranker.probabilities(model, q.features)
    index, mass = ranker.pick(p, q.says)
    return index, ranker.trust_features(q.features, p, mass, index, q.evidence)


def fit_trust(qs: list[Question], choose: ranker.Model, l2: float = 1e-2, steps: int = 3000) -> ranker.Model:
    rows, y = [], []
    for q in qs:
        if q.features is None or q.right is None:
            continue
        index, x = chosen(choose, q)
        rows.append(x)
        y.append(float(q.right[index]))
    x = np.stack(rows)
    mean, scale = _standardize(x)
    mean[0], scale[0] = 0.0, 1.0  # the constant
    xn = (x - mean) / scale
    target = np.array(y)
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xn @ w))
        w -= 0.5 * (xn.T @ (p - target) / len(target) + l2 * w)
    return ranker.Model(ranker.TRUST_FEATURES, tuple(mean), tuple(scale), tuple(w))


def fit(qs: list[Question], min_confidence: float = 0.7) -> ranker.RankerWeights:
    choose = fit_choose(qs)
    return ranker.RankerWeights(choose, fit_trust(qs, choose), min_confidence)


def plain(q: Question) -> str:
    """How the router's reply without the ranker is judged (as in benchmarks/built_intents_bench.py):
    'right', 'wrong', 'offans' (an off-topic question answered with a fact) or 'none'."""
    if q.off_topic:
        return "none" if q.plain_good else "offans"
    return "right" if q.plain_good else "wrong" if q.plain_answered else "none"


def judged(weights: ranker.RankerWeights, q: Question, threshold: float) -> str:
    """The ranker's reply, judged as :func:`plain`."""
    if q.features is None:
        return plain(q)  # the ranker is not asked: the router's reply stands (a meta command, the fallback)
    index, x = chosen(weights.choose, q)
    z = float(((x - np.array(weights.trust.mean)) / np.array(weights.trust.scale)) @ np.array(weights.trust.weights))
    if 1 / (1 + np.exp(-z)) < threshold:
        return "none"
    if q.off_topic:
        return "offans"
    assert q.right is not None
    return "right" if q.right[index] else "wrong"


def figures(kinds: list[str], on: int) -> str:
    right, wrong, offans = (kinds.count(k) for k in ("right", "wrong", "offans"))
    return (f"right {right} ({100 * right / on:.1f} %)  wrong {wrong} ({100 * wrong / on:.1f} %)  "
            f"off-topic answered {offans}")


def report(qs: list[Question]) -> None:
    folds = {g: fit([q for q in qs if q.group != g]) for g in sorted({q.group for q in qs})}
    for article in sorted({q.article for q in qs}):
        mine = [q for q in qs if q.article == article]
        on = sum(not q.off_topic for q in mine)
        print(f"{article}: {len(mine)} questions ({on} on the article, {len(mine) - on} off-topic)")
        print(f"  without the ranker:           {figures([plain(q) for q in mine], on)}")
        for threshold in THRESHOLDS:
            kinds = [judged(folds[q.group], q, threshold) for q in mine]
            print(f"  ranker_min_confidence {threshold:.2f}:  {figures(kinds, on)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default=TUNING, help=f"tuning sets of the built-in article (default {TUNING})")
    ap.add_argument("--articles", default=OTHER_ARTICLES, help=f"other articles (default {OTHER_ARTICLES})")
    ap.add_argument("--passage-model", choices=sorted(ranker.WEIGHTS_FILES), default="all-MiniLM-L6-v2",
                    help="what compares questions with the answers ([router] passage_model; default %(default)s)")
    ap.add_argument("--min-confidence", type=float, default=0.7,
                    help="the threshold written with the weights (default %(default)s)")
    ap.add_argument("--write", action="store_true",
                    help="write the passage model's weights (voiceskill/data/ranker*.toml)")
    args = ap.parse_args()
    qs = read_all(args.sets.split(","), [a for a in args.articles.split(",") if a], args.passage_model)
    print("each group judged by weights fitted on the other groups:")
    report(qs)
    if args.write:
        path = ranker.default_weights_path(args.passage_model)
        with replacing(path) as tmp_path:
            tmp_path.write_text(fit(qs, args.min_confidence).to_toml())
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
