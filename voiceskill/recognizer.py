"""The recognizer stage: speech (16 kHz mono int16 chunks) in, transcripts with word confidences out.

* :class:`SpeechModel` loads the Vosk model once; the orchestrator, the ``listen`` command and the
  wake spotter share one instance (create it once per process and pass it around).
* :class:`VoskRecognizer` is one streaming recognition session over that model. In *grammar*
  mode (the default) it only hears the words the router knows plus ``[unk]`` for anything else,
  which keeps off-topic speech from turning into plausible article words and makes noisy speech
  land on the words that matter. In open-vocabulary mode it uses the model's full language model.
* :func:`recognize_pcm` runs a whole buffer (a file) through a recognizer and joins the finals.

Confidences are passed through untouched: the router decides what a low-confidence word means.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import struct
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from voiceskill.errors import ModelError
from voiceskill.pcm import RATE_HZ, SAMPLE_WIDTH_BYTES
from voiceskill.settings import RecognizerConfig
from voiceskill.text import UNK, number_words

log = logging.getLogger(__name__)


_FIX = "run `voiceskill model download` (internet) or `voiceskill model install FILE`, or pass --model DIR"


@dataclass(frozen=True)
class Word:
    """One recognized word: its text, Vosk's confidence (0..1) and its time span in seconds."""

    text: str
    conf: float
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Transcript:
    """A recognition result. ``text`` is the words joined by single spaces (may hold ``[unk]``)."""

    text: str
    words: tuple[Word, ...]
    final: bool
    alternatives: tuple[str, ...] = field(default=())

    @property
    def confidences(self) -> tuple[float, ...]:
        """Per-word confidences aligned with ``text.split()``."""
        return tuple(w.conf for w in self.words)

    def as_dict(self) -> dict[str, object]:
        return {"transcript": self.text,
                "words": [{"word": w.text, "conf": round(w.conf, 3), "start": round(w.start_s, 3),
                           "end": round(w.end_s, 3)} for w in self.words]}




class Recognizer(Protocol):
    """A streaming speech recognizer over 16-bit mono PCM chunks."""

    def accept(self, chunk: bytes) -> Transcript | None:
        """Feed one chunk; return a final transcript when an endpoint (a pause) ends an utterance."""

    def partial(self) -> str:
        """The words heard so far in the current utterance (may still change)."""

    def finish(self, keep_speaker: bool = False) -> Transcript:
        """Flush: the final result of everything fed since the last final or reset.

        ``keep_speaker``: keep what the recognizer has adapted to (the speaker's voice, the
        room) for the next question of the same person; otherwise the next question starts
        fresh."""

    def reset(self) -> None:
        """Drop everything fed since the last final; start a new utterance."""

    def forget_speaker(self) -> None:
        """Start the next question fresh: a new person, or a long pause since the last one."""


# --------------------------------------------------------------------------------------------
# The model


def everyday_vocabulary() -> frozenset[str]:
    """Common words and phrases that are about no article, for the grammar:
    voiceskill/data/everyday-words.txt (words) and everyday-phrases.txt (one phrase a line)."""
    from importlib import resources

    data = resources.files("voiceskill") / "data"

    def lines(name: str) -> list[str]:
        return [line for line in (data / name).read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    words = {w for line in lines("everyday-words.txt") + lines("everyday-phrases.txt") for w in line.split()}
    phrases = {" ".join(line.split()) for line in lines("everyday-phrases.txt") if len(line.split()) > 1}
    return frozenset(words | phrases)


def import_vosk() -> Any:
    """The vosk module; a missing package or system library is a one-line ModelError."""
    try:
        import vosk
    except ImportError:
        raise ModelError("the vosk package is not installed: pip install vosk") from None
    except OSError as exc:  # libvosk.so needs a system library (e.g. libatomic1 on minimal Debian arm64)
        raise ModelError(f"the Vosk library cannot load ({exc}): install the missing system library, "
                         "e.g. sudo apt install libatomic1") from None
    return vosk


class SpeechModel:
    """The Vosk model, loaded once; a context manager. ``load_s`` is the load time in seconds.

    The directory is checked first (:func:`voiceskill.models.check_model_dir`: a broken model is a
    one-line error, not a crash in the speech engine) unless ``checked``: it was just checked, as
    :func:`voiceskill.models.resolve_model_dir` does.
    """

    def __init__(self, path: Path, *, debug: bool = False, checked: bool = False) -> None:
        from voiceskill.models import check_model_dir

        vosk = import_vosk()
        self.path = Path(path)
        if not checked:
            check_model_dir(self.path)
        vosk.SetLogLevel(0 if debug else -1)
        start = time.perf_counter()
        with _kaldi_errors(capture=not debug) as kaldi:
            try:
                self._model: Any = vosk.Model(str(self.path))
            except Exception:  # vosk raises a bare Exception("Failed to create a model")
                self._model = None
        if self._model is None:
            reason = kaldi[-1] if kaldi else "Vosk could not create the model"
            raise ModelError(f"the speech model in {self.path} does not load ({reason}); it is "
                             f"incomplete or corrupt: {_FIX}")
        self.load_s = time.perf_counter() - start
        self._lexicon: frozenset[str] | None = None
        log.info("speech model %s loaded in %.2f s", self.path.name, self.load_s)

    @property
    def vosk_model(self) -> object:
        if self._model is None:
            raise RuntimeError("the speech model is closed")
        return self._model

    def lexicon(self) -> frozenset[str]:
        """Every word the model can recognize (read once from words.txt or Gr.fst's symbol table).

        Empty when the model carries no readable word list; callers then fall back to a
        spelling filter (see :func:`grammar_words`).
        """
        if self._lexicon is None:
            start = time.perf_counter()
            self._lexicon = read_lexicon(self.path)
            log.debug("lexicon: %d words in %.2f s", len(self._lexicon), time.perf_counter() - start)
        return self._lexicon

    def recognizer(self, config: RecognizerConfig = RecognizerConfig(),
                   vocabulary: Iterable[str] | None = None) -> VoskRecognizer:
        return VoskRecognizer(self, config, vocabulary)

    def close(self) -> None:
        self._model = None  # vosk.Model frees the native model when collected

    def __enter__(self) -> SpeechModel:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@contextlib.contextmanager
def _kaldi_errors(capture: bool) -> Iterator[list[str]]:
    """Collect the ERROR lines Kaldi writes straight to file descriptor 2 while loading, so a
    broken model gives one readable line instead of native log noise. Yields the list it fills.

    Redirects the process's fd 2 for the duration: use it only at start-up (no other threads).
    """
    errors: list[str] = []
    if not capture:
        yield errors
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield errors
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode(errors="replace").splitlines():
                m = re.match(r"(?:ERROR|ASSERTION_FAILED) \(.*?:\d+\) (.*)", line)
                if m:
                    errors.append(m.group(1).strip())
                elif line.strip():
                    log.debug("vosk: %s", line)


_FST_MAGIC = 2125659606
_SYMTAB_MAGIC = 2125658996


def read_lexicon(model_dir: Path) -> frozenset[str]:
    """The model's word list: ``graph/words.txt`` if present, else the symbol table stored in the
    header of ``graph/Gr.fst`` (the small models ship no words.txt). Empty if neither is readable."""
    words_txt = model_dir / "graph" / "words.txt"
    if words_txt.is_file():
        return frozenset(line.split()[0] for line in words_txt.read_text(errors="replace").splitlines()
                         if line.strip())
    gr = model_dir / "graph" / "Gr.fst"
    try:
        with gr.open("rb") as f:
            return _fst_symbols(f)
    except (OSError, ValueError, struct.error, UnicodeDecodeError) as exc:
        log.debug("no word list in %s: %s", gr, exc)
        return frozenset()


def _fst_symbols(f: object) -> frozenset[str]:
    """Parse an OpenFst file's header and return its input symbol table (the words of Gr.fst),
    without reading the arcs."""
    read = f.read  # type: ignore[attr-defined]

    def i32() -> int:
        return struct.unpack("<i", read(4))[0]

    def i64() -> int:
        return struct.unpack("<q", read(8))[0]

    def string() -> str:
        n = i32()
        if not 0 <= n < 1 << 20:
            raise ValueError("bad string length")
        return read(n).decode("utf-8")

    if i32() != _FST_MAGIC:
        raise ValueError("not an OpenFst file")
    string(), string()  # fst type, arc type
    i32()  # version
    flags = i32()
    i64(), i64(), i64(), i64()  # properties, start, numstates, numarcs
    if not flags & 1:
        raise ValueError("no symbol table stored")
    if i32() != _SYMTAB_MAGIC:
        raise ValueError("bad symbol table")
    string()  # name
    i64()  # available key
    size = i64()
    words = set()
    for _ in range(size):
        words.add(string())
        i64()
    return frozenset(w for w in words if not w.startswith(("<", "!", "#")))


# --------------------------------------------------------------------------------------------
# Grammar

QUESTION_FRAMES = (
    "what is", "what is a", "what are", "what are the", "what causes", "what should i do",
    "what can i do", "what should i", "what should my", "what do i", "how do i", "how can i",
    "how do you", "how much", "how many", "how often", "how long", "how does", "why do", "why does",
    "why would", "why do my", "when should i", "when do i", "should i", "can i", "can you",
    "do i need", "do i need to", "is it", "is it ok to", "tell me about", "tell me about the",
    "is there", "what happens if", "what to do", "i need to", "in my",
)
"""Openings of spoken English questions, added to a grammar as phrases (see RecognizerConfig)."""

_WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _grammar_tokens(raw: str, lexicon: frozenset[str]) -> list[str]:
    """Lower-case words of ``raw`` the model can say: numbers spelled out, the rest dropped."""
    out: list[str] = []
    for token in re.findall(r"[0-9]+|[a-z']+", raw.lower()):
        if token.isdigit():
            candidates = number_words(int(token)).split() if len(token) < 7 else []
        else:
            candidates = _WORD_RE.findall(token)
        out.extend(c for c in candidates if not lexicon or c in lexicon)
    return out


def grammar_words(vocabulary: Iterable[str], lexicon: frozenset[str] = frozenset(),
                  frames: Iterable[str] = ()) -> list[str]:
    """The Vosk grammar for a vocabulary, cheap to build.

    Each single-word entry becomes a grammar word; an entry with several words (a phrasing such
    as "how much water should i drink") becomes a phrase, which Vosk turns into word-pair
    statistics that favour those sequences while every grammar word stays possible. Words are
    lower-cased, numbers spelled out ("64" -> "sixty four"), and anything the model cannot say
    dropped: not alphabetic, or (when ``lexicon`` is given) missing from the model's word list.
    ``frames`` are phrases added only when every word of theirs is already in the grammar.
    Sorted, phrases first, ``[unk]`` last.
    """
    words: set[str] = set()
    phrases: set[str] = set()
    for raw in vocabulary:
        tokens = _grammar_tokens(raw, lexicon)
        words.update(tokens)
        if len(raw.split()) > 1 and len(tokens) > 1:
            phrases.add(" ".join(tokens))
    words.discard(UNK)
    phrases.update(f for f in frames if len(f.split()) > 1 and all(w in words for w in f.split()))
    return sorted(phrases) + sorted(words) + [UNK]


# --------------------------------------------------------------------------------------------
# The recognizer


def _transcript(result: dict[str, Any], final: bool) -> Transcript:
    """A Transcript from one Vosk result JSON (with or without words / alternatives)."""
    alternatives: tuple[str, ...] = ()
    if "alternatives" in result:
        alts: list[dict[str, Any]] = result["alternatives"]
        alternatives = tuple(str(a.get("text", "")) for a in alts)
        result = alts[0] if alts else {}
    raw_words: list[dict[str, Any]] = result.get("result") or []
    words = tuple(Word(str(w["word"]), float(w.get("conf", 1.0)), float(w["start"]), float(w["end"]))
                  for w in raw_words)
    text = " ".join(w.text for w in words) if words else " ".join(str(result.get("text", "")).split())
    return Transcript(text, words, final, alternatives)


class VoskRecognizer:
    """One streaming recognition session (a ``vosk.KaldiRecognizer``); a context manager.

    ``vocabulary``: the words to listen for in grammar mode (usually ``router.vocabulary()``);
    ignored in open-vocabulary mode. Grammar mode without a vocabulary is an error.
    """

    def __init__(self, model: SpeechModel, config: RecognizerConfig = RecognizerConfig(),
                 vocabulary: Iterable[str] | None = None) -> None:
        import vosk

        self.config = config
        self.grammar: list[str] | None = None
        if config.grammar:
            if vocabulary is None:
                raise ValueError("grammar mode needs a vocabulary (or RecognizerConfig(grammar=False))")
            frames = QUESTION_FRAMES if config.question_frames else ()
            self.grammar = grammar_words(vocabulary, model.lexicon(), frames)
            log.debug("grammar of %d words", len(self.grammar))
        try:
            if self.grammar is not None:
                self._rec = vosk.KaldiRecognizer(model.vosk_model, config.rate_hz, json.dumps(self.grammar))
            else:
                self._rec = vosk.KaldiRecognizer(model.vosk_model, config.rate_hz)
        except Exception:  # vosk raises a bare Exception("Failed to create a recognizer")
            raise ModelError(f"speech model {model.path} cannot build a recognizer (its decoding graph "
                             f"is damaged or incomplete); reinstall it: `voiceskill model download` "
                             f"or `voiceskill model install FILE`") from None
        self._rec.SetWords(config.words)
        if config.max_alternatives:
            self._rec.SetMaxAlternatives(config.max_alternatives)
        self._carried_bytes = 0
        """Audio fed since the recognizer last started fresh (bounds what a session keeps)."""

    def accept(self, chunk: bytes) -> Transcript | None:
        self._carried_bytes += len(chunk)
        if self._rec.AcceptWaveform(chunk):
            return _transcript(json.loads(self._rec.Result()), final=True)
        return None

    def partial(self) -> str:
        return " ".join(str(json.loads(self._rec.PartialResult()).get("partial", "")).split())

    def finish(self, keep_speaker: bool = False) -> Transcript:
        limit = 2 * self.config.rate_hz * self.config.session_max_audio_s
        if not keep_speaker or self._carried_bytes >= limit:
            self._carried_bytes = 0
            # FinalResult() flushes the features and ends the session: the next chunk rebuilds
            # the feature pipeline, so the speaker adaptation (online i-vector, CMVN) is gone.
            return _transcript(json.loads(self._rec.FinalResult()), final=True)
        # Result() ends the utterance but keeps the feature pipeline (vosk-api recognizer.cc:
        # CleanUp() only rebuilds it after FinalResult()); the silence lets the last frames through.
        tail = bytes(2 * self.config.rate_hz * self.config.tail_silence_ms // 1000)
        if tail:
            self._rec.AcceptWaveform(tail)
        return _transcript(json.loads(self._rec.Result()), final=True)

    def reset(self) -> None:
        self._rec.Reset()

    def forget_speaker(self) -> None:
        # FinalResult() only ends a running utterance: start one with 10 ms of silence first
        self._rec.AcceptWaveform(bytes(2 * self.config.rate_hz // 100))
        self._rec.FinalResult()
        self._carried_bytes = 0

    def close(self) -> None:
        self._rec = None

    def __enter__(self) -> VoskRecognizer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def join(parts: Iterable[Transcript]) -> Transcript:
    """One final transcript from several consecutive finals (a file with pauses in it).

    A single utterance is returned as it is (keeping its alternatives)."""
    parts = [p for p in parts if p.text]
    if len(parts) == 1:
        return parts[0]
    words: list[Word] = []
    texts: list[str] = []
    for part in parts:
        words.extend(part.words)
        if part.text:
            texts.append(part.text)
    return Transcript(" ".join(texts), tuple(words), True)


def recognize_pcm(recognizer: Recognizer, pcm: bytes, chunk_ms: int = 200,
                  rate_hz: int = RATE_HZ, keep_speaker: bool = False) -> Transcript:
    """Feed a whole buffer (16-bit mono PCM) chunk by chunk and return everything heard, joined
    (``keep_speaker``: see :meth:`Recognizer.finish`)."""
    step = max(1, rate_hz * chunk_ms // 1000) * SAMPLE_WIDTH_BYTES
    parts = []
    for i in range(0, len(pcm), step):
        final = recognizer.accept(pcm[i:i + step])
        if final is not None:
            parts.append(final)
    parts.append(recognizer.finish(keep_speaker))
    return join(parts)
