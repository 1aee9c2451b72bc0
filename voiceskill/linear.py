"""Small learned linear models kept as data: the learned ranker's (:mod:`voiceskill.ranker`) and
the decision step's (:mod:`voiceskill.decide`). A model is named features with a mean, scale and
weight each; a weights file (TOML, written by a fitting script) holds one or more of them and the
threshold that was chosen with them."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voiceskill.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Model:
    """One linear model over named features: ``weights · (features - mean) / scale``."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]


def linear(model: Model, x: np.ndarray) -> np.ndarray:
    """The model's score of each row of ``x`` (or of one feature vector)."""
    import numpy as np

    return np.asarray(((x - np.array(model.mean)) / np.array(model.scale)) @ np.array(model.weights))


def probability(z: float) -> float:
    """The logistic of a model's score (clipped, so an extreme score cannot overflow)."""
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def read_models(path: Path, parts: Mapping[str, tuple[str, ...]], what: str,
                default_threshold: float | None = None) -> tuple[dict[str, Model], float]:
    """The models ``parts`` (table name -> its features, which must be this version's) of a
    weights file, and its ``min_confidence``; ConfigError (one line) for anything else."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
        models = {}
        for part, names in parts.items():
            table = data[part]
            model = Model(tuple(table["features"]), *(tuple(float(x) for x in table[k])
                                                      for k in ("mean", "scale", "weights")))
            if model.features != names or not len(names) == len(model.mean) == len(model.scale) \
                    == len(model.weights):
                raise ConfigError(f"{path}: [{part}] does not match this version's features")
            models[part] = model
        raw = data.get("min_confidence", default_threshold)
        if raw is None:
            raise KeyError("min_confidence")
        threshold = float(raw)
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"min_confidence {threshold} is not in (0, 1]")
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path}: unreadable {what}: {e}") from e
    return models, threshold


def models_toml(header: str, models: Mapping[str, Model], min_confidence: float) -> str:
    """A weights file's text (see :func:`read_models`)."""
    def row(values: Sequence[float] | Sequence[str]) -> str:
        return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else f"{v:.6g}" for v in values) + "]"

    lines = [f"# {header}", "", f"min_confidence = {min_confidence:.6g}"]
    for part, model in models.items():
        lines += ["", f"[{part}]", f"features = {row(model.features)}", f"mean = {row(model.mean)}",
                  f"scale = {row(model.scale)}", f"weights = {row(model.weights)}"]
    return "\n".join(lines) + "\n"
