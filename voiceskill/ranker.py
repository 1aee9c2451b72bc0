"""Choosing among intents built from an article by two kinds of evidence at once.

Built intents have no example questions, so a question is matched two ways: by cue words (the
router's score) and by meaning (how close the question is to each intent's heading and answer).
A small learned model weighs both. It first *chooses*: each intent gets a linear score of its
features and so a probability; each sentence of the article gets the probability of the intents
whose answer says it, and the most probable intent saying the most probable sentence is the
candidate. It then *trusts* it or not: a logistic model of the candidate's features gives the
probability that its answer is right, which is the router's confidence. The features describe
scores and ranks only, never words, so weights learned from questions about a few articles
(``scripts/fit_ranker.py``) apply to any article. The weights are data:
``voiceskill/data/ranker.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voiceskill.linear import Model, linear, models_toml, probability, read_models

if TYPE_CHECKING:
    import numpy as np

CHOOSE_FEATURES = ("cue", "cue_behind_best", "cue_scored", "cue_rank", "meaning", "meaning_behind_best",
                   "meaning_rank", "first_by_both")
"""Per intent: its cue score (0 when no cue was heard), how far behind the best cue score it
is, whether any cue was heard, log(1 + its rank by cue score), its similarity in meaning, how
far behind the closest it is, log(1 + its rank by meaning), first by both."""

TRUST_FEATURES = ("bias", "sentence_mass", "own_share", "cue", "best_cue", "meaning", "best_meaning",
                  "cue_rank", "meaning_rank", "on_subject")
"""Of the chosen intent: a constant, the probability mass of the sentence it was chosen for,
its own probability, its cue score, the best cue score, its similarity in meaning, the
best similarity, its two ranks (as above), whether the question names the subject."""


@dataclass(frozen=True)
class RankerWeights:
    choose: Model
    trust: Model
    min_confidence: float = 0.7
    """The trust below which the fallback answers, chosen when the weights were fitted
    (``[router] ranker_min_confidence`` overrides it)."""

    @classmethod
    def load(cls, path: Path) -> RankerWeights:
        models, threshold = read_models(path, {"choose": CHOOSE_FEATURES, "trust": TRUST_FEATURES},
                                        "ranker weights", default_threshold=0.7)
        return cls(models["choose"], models["trust"], threshold)

    def to_toml(self) -> str:
        return models_toml("written by scripts/fit_ranker.py: see voiceskill/ranker.py",
                           {"choose": self.choose, "trust": self.trust}, self.min_confidence)

WEIGHTS_FILES = {"all-MiniLM-L6-v2": "ranker.toml", "e5-small-v2": "ranker-e5-small-v2.toml"}
"""The weights fitted with each model of meaning (``[router] passage_model``)."""


def default_weights_path(passage_model: str = "all-MiniLM-L6-v2") -> Path:
    from importlib import resources

    return Path(str(resources.files("voiceskill") / "data" / WEIGHTS_FILES[passage_model]))


@dataclass(frozen=True)
class Evidence:
    """What the ranker weighs for one question."""

    names: Sequence[str]
    """The article's intents (not the meta commands), in the order of the rows of ``says``."""
    cue: Mapping[str, float]
    """Cue scores of the intents any cue was heard for."""
    meaning: Mapping[str, float]
    """Every intent's similarity in meaning (0..1) to the question."""
    on_subject: bool
    """The question names the article's subject."""


@dataclass(frozen=True)
class Choice:
    name: str
    confidence: float


def choose_features(names: Sequence[str], cue: Mapping[str, float], meaning: Mapping[str, float]) -> np.ndarray:
    """The :data:`CHOOSE_FEATURES` of every intent in ``names`` (rows in that order)."""
    import numpy as np

    c = np.array([cue.get(n, 0.0) for n in names], np.float64)
    heard = np.array([n in cue for n in names], np.float64)
    m = np.array([meaning.get(n, 0.0) for n in names], np.float64)
    c_rank = np.empty(len(names))
    c_rank[np.argsort(-c, kind="stable")] = np.arange(len(names))
    m_rank = np.empty(len(names))
    m_rank[np.argsort(-m, kind="stable")] = np.arange(len(names))
    best_cue = c.max() if heard.any() else 0.0
    return np.stack([c, c - best_cue, heard, np.log1p(c_rank), m, m - m.max(), np.log1p(m_rank),
                     ((c_rank == 0) & (m_rank == 0) & (heard > 0)).astype(np.float64)], 1)


def trust_features(features: np.ndarray, probability: np.ndarray, sentence_mass: float, chosen: int,
                   evidence: Evidence) -> np.ndarray:
    """The :data:`TRUST_FEATURES` of the ``chosen`` row of :func:`choose_features`."""
    import numpy as np

    f = features
    return np.array([1.0, sentence_mass, probability[chosen], f[chosen, 0], f[:, 0].max(), f[chosen, 4],
                     f[:, 4].max(), f[chosen, 3], f[chosen, 6], float(evidence.on_subject)])


def probabilities(model: Model, features: np.ndarray) -> np.ndarray:
    """Each intent's probability of being the one to answer with."""
    import numpy as np

    z = linear(model, features)
    p = np.exp(z - z.max())
    return np.asarray(p / p.sum())


def sentence_masses(p: np.ndarray, says: np.ndarray) -> np.ndarray:
    """Each sentence's share of the probability of the intents that say it (``says[i, s]`` is 1
    when intent i's answer says sentence s): how probably it is the sentence that answers."""
    mass = p @ says
    return mass / mass.sum()


def pick(p: np.ndarray, says: np.ndarray) -> tuple[int, float]:
    """The intent to answer with, and the mass of the sentence it was picked for: the sentence
    most probably the one that answers, said by its most probable intent."""
    import numpy as np

    mass = sentence_masses(p, says)
    best = int(mass.argmax())
    return int(np.where(says[:, best] > 0, p, -1.0).argmax()), float(mass[best])


def choose(weights: RankerWeights, evidence: Evidence, says: np.ndarray) -> Choice | None:
    """The intent to answer with and how sure that it is right (0..1); None without intents.
    ``says[i, s]`` is 1 when intent ``evidence.names[i]`` says sentence s of the article."""
    if not evidence.names:
        return None
    features = choose_features(evidence.names, evidence.cue, evidence.meaning)
    p = probabilities(weights.choose, features)
    chosen, mass = pick(p, says)
    z = float(linear(weights.trust, trust_features(features, p, mass, chosen, evidence)))
    return Choice(evidence.names[chosen], probability(z))
