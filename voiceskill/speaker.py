"""The speaker stage: text to speech (pyttsx3 + eSpeak NG) and playback through PortAudio.

* :class:`TtsWorker` runs pyttsx3 in a child process (``python -m voiceskill.speaker``).
  pyttsx3 is known to hang or to speak only once when ``runAndWait`` is called repeatedly or
  from threads (nateshmbhat/pyttsx3 issues #126, #131 and #194; austin-bowen/voicebox#8), so
  every request has a deadline: a child that misses it is killed and restarted, and a hang can
  never freeze the caller.
* :class:`Synthesizer` caches the synthesized PCM on disk, keyed by the sha256 of (text, voice,
  rate, engine versions), and in memory. :meth:`Synthesizer.prepare` renders all known answers
  once at start-up so that speaking later has no synthesis wait.
* :class:`DeviceSpeaker` plays through a sounddevice output stream that stays open; PortAudio's
  own thread pulls samples from the queued utterances in the stream callback, so nothing here
  blocks and :meth:`DeviceSpeaker.stop` silences the output within one audio block.
* :class:`WavFileSpeaker` (``--speak-to FILE.wav``) appends what would be played to a WAV file.

Both implement the :class:`Speaker` protocol, which is what the orchestrator depends on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import importlib.metadata
import json
import logging
import math
import os
import select
import subprocess
import sys
import time
import wave
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

import numpy as np

from voiceskill.audio import close_stream, find_device, import_sounddevice, pick_stream_format
from voiceskill.errors import SpeakerError
from voiceskill.files import output_file_problem, remove_dead_temps, replacing, writable_dir_problem
from voiceskill.pcm import SILENCE_PEAK, float_to_pcm, int16_to_float
from voiceskill.settings import SpeakerConfig

if TYPE_CHECKING:
    import sounddevice

log = logging.getLogger(__name__)

TTS_RATE_HZ = 22_050
"""eSpeak NG renders at this rate; the output stream prefers it so speech needs no resampling."""
EarconKind = Literal["start", "stop", "error"]


@dataclass
class Utterance:
    """One queued sound (an answer, a clip or an earcon). The playback side fills in the times.

    All times are :func:`time.monotonic` seconds.
    """

    label: str
    duration_s: float
    queued_at: float = field(default_factory=time.monotonic)
    first_sample_at: float | None = None
    """When the first non-silent sample was handed to the audio driver."""
    first_sample_dac_at: float | None = None
    """When that sample is due at the loudspeaker (driver's estimate; None if unknown)."""
    finished_at: float | None = None
    """When the last sample is (expected to be) out of the loudspeaker, or when it was stopped."""
    stopped: bool = False

    @property
    def done(self) -> bool:
        return self.finished_at is not None and time.monotonic() >= self.finished_at


class Speaker(Protocol):
    """What the orchestrator needs from a speaker. A context manager; never blocks listening."""

    def __enter__(self) -> Speaker: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def prepare(self, texts: Iterable[str]) -> int:
        """Synthesize every text not cached yet (at start-up); returns how many were synthesized."""
        ...

    def say(self, text: str) -> Utterance:
        """Queue ``text`` for playback and return at once (synthesizes first if not prepared)."""
        ...

    def play_pcm(self, pcm: bytes, rate_hz: int, label: str = "pcm") -> Utterance:
        """Queue little-endian int16 mono PCM for playback."""
        ...

    def earcon(self, kind: EarconKind) -> Utterance:
        """Queue a short generated tone: "start" (rising), "stop" (falling) or "error" (low)."""
        ...

    def stop(self) -> None:
        """Silence the output now and drop everything queued."""
        ...

    @property
    def is_speaking(self) -> bool: ...

    @property
    def first_sample_at(self) -> float | None:
        """first_sample_at of the most recently started utterance."""
        ...

    def wait(self, timeout_s: float) -> bool:
        """Block until all queued sound has played; False on timeout."""
        ...

    def close(self) -> None: ...


class _Closing:
    """Context manager protocol for a resource with ``close()``."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# The TTS worker process


_ENGINE_TRIES = 3


def _voice_matches(voice: Any, wanted: str) -> bool:
    wanted = wanted.strip().lower()
    ident = str(voice.id).lower()
    return wanted in (ident, ident.rsplit("/", 1)[-1], str(voice.name).lower())


def synthesize_request(engine: Any, request: dict[str, Any]) -> None:
    """Worker side: render ``request["text"]`` with pyttsx3 into the WAV ``request["path"]``."""
    voice = request["voice"]
    voices = engine.getProperty("voices")
    match = next((v for v in voices if _voice_matches(v, voice)), None)
    if match is None:
        english = ", ".join(sorted(v.id.rsplit("/", 1)[-1] for v in voices
                                   if v.id.rsplit("/", 1)[-1].startswith("en")))
        raise ValueError(f"eSpeak NG has no voice {voice!r} (English ones: {english})")
    rate_wpm = int(request["rate_wpm"])
    path = Path(request["path"])
    for _ in range(_ENGINE_TRIES):
        if not _apply_voice_and_rate(engine, match.id, rate_wpm):
            continue
        # pyttsx3 2.99's espeak driver can return from runAndWait() before eSpeak has finished
        # (it synthesizes on its own thread): wait for it, and ask again if no file came.
        path.unlink(missing_ok=True)
        engine.save_to_file(request["text"], str(path))
        engine.runAndWait()
        _espeak().Synchronize()
        if path.is_file() and path.stat().st_size > 44:
            return
    raise RuntimeError(f"pyttsx3 wrote no audio at {rate_wpm} words per minute in {_ENGINE_TRIES} tries")


def _espeak() -> Any:
    """pyttsx3's ctypes binding of libespeak-ng (worker side only)."""
    from pyttsx3.drivers import _espeak

    return _espeak


def _apply_voice_and_rate(engine: Any, voice_id: str, rate_wpm: int) -> bool:
    """Set the voice and rate so that they hold for the next synthesis; False if they did not.

    pyttsx3 runs eSpeak NG asynchronously: a property set is only queued in eSpeak's command
    queue, and pyttsx3's endLoop() cancels that queue when eSpeak is still busy, which drops the
    queued rate (a CI run once spoke at the default 200 words per minute). So the engine is made
    idle first (a fresh one holds commands until its first loop), the properties are set, and
    eSpeak's queue is drained before anything can cancel it, and the rate eSpeak then reports
    is checked.
    """
    espeak = _espeak()
    if engine.isBusy():
        engine.runAndWait()
        espeak.Synchronize()
    engine.setProperty("voice", voice_id)
    engine.setProperty("rate", rate_wpm)
    espeak.Synchronize()
    current = espeak.dll.espeak_GetParameter(espeak.RATE, 1)  # pyttsx3's binding drops `current`
    if current != rate_wpm:
        log.warning("eSpeak NG kept %s words per minute, not %s: setting it again", current, rate_wpm)
    return bool(current == rate_wpm)


def worker_main(synth: Callable[[Any, dict[str, Any]], None] = synthesize_request) -> int:
    """The TTS child process: JSON requests on stdin, one JSON reply line each on stdout.

    pyttsx3 prints to stdout ("Audio saved to ..."), so the replies go to a private duplicate of
    the original stdout and file descriptor 1 itself is pointed at /dev/null.
    """
    replies = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = sys.stderr

    def reply(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    try:
        import pyttsx3

        engine = pyttsx3.init("espeak")
    except Exception as exc:  # no pyttsx3, no libespeak-ng, ...: report instead of dying silently
        reply({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    reply({"ready": True, "pid": os.getpid()})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            synth(engine, request)
        except Exception as exc:
            reply({"id": request.get("id"), "ok": False, "error": f"{exc}"})
        else:
            reply({"id": request.get("id"), "ok": True})
    return 0


class _WorkerTimeout(Exception):
    pass


class _WorkerDied(SpeakerError):
    def __init__(self) -> None:
        super().__init__("the speech synthesis worker exited unexpectedly; "
                         "check that espeak-ng works (`espeak-ng hello`)")


class TtsWorker(_Closing):
    """A pyttsx3 child process with a deadline on every request; a context manager.

    ``command`` replaces the child's command line (tests inject misbehaving workers with it);
    by default it is ``python -m voiceskill.speaker``. The child is started lazily.
    """

    def __init__(self, timeout_s: float = 10.0, command: Sequence[str] | None = None) -> None:
        self.timeout_s = timeout_s
        self.command = list(command) if command else [sys.executable, "-m", "voiceskill.speaker"]
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._next_id = 0
        self.restarts = 0
        """How many times a child was killed after missing its deadline or dying."""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def close(self) -> None:
        """Ask the child to exit (end of input), kill it if it does not, and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=2.0)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()

    def abort(self) -> None:
        """Kill the child now (it is restarted by the next request): after an interruption,
        so that it cannot go on writing a file its caller is about to remove."""
        self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
        self._buf = b""

    def _read_reply(self, deadline: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _WorkerTimeout
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            data = os.read(fd, 65536)
            if not data:
                raise _WorkerDied
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            reply: dict[str, Any] = json.loads(line)
        except ValueError as exc:
            raise SpeakerError(f"the speech synthesis worker wrote garbage ({line[:60]!r})") from exc
        return reply

    def _start(self) -> None:
        log.debug("tts: starting worker %s", " ".join(self.command))
        # The child must import this very voiceskill, installed or not, from any working dir.
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, close_fds=True, env=env)
        self._buf = b""
        try:
            hello = self._read_reply(time.monotonic() + self.timeout_s)
        except _WorkerTimeout:
            self._kill()
            self.restarts += 1
            raise SpeakerError(f"the speech synthesis worker did not start within "
                               f"{self.timeout_s:g} s; check that `espeak-ng hello` works") from None
        except SpeakerError:
            self._kill()
            raise
        if not hello.get("ready"):
            self._kill()
            raise SpeakerError(f"pyttsx3/eSpeak NG cannot start ({hello.get('error')}); install "
                               f"them (`sudo apt-get install espeak-ng`, `pip install pyttsx3`)")

    def synthesize(self, text: str, voice: str, rate_wpm: int, path: Path) -> None:
        """Render ``text`` into the WAV file ``path``; one retry with a fresh child after a hang."""
        problem = ""
        for attempt in (1, 2):
            if self._proc is None or self._proc.poll() is not None:
                if self._proc is not None:
                    self._kill()
                    self.restarts += 1
                self._start()
            assert self._proc is not None and self._proc.stdin is not None
            self._next_id += 1
            request = {"id": self._next_id, "text": text, "voice": voice, "rate_wpm": rate_wpm,
                       "path": str(path)}
            try:
                self._proc.stdin.write((json.dumps(request) + "\n").encode())
                self._proc.stdin.flush()
                deadline = time.monotonic() + self.timeout_s
                while (reply := self._read_reply(deadline)).get("id") != self._next_id:
                    pass  # a stale reply (cannot happen after a restart, but be safe)
            except _WorkerTimeout:
                problem = f"hung (no result within {self.timeout_s:g} s)"
            except (BrokenPipeError, _WorkerDied):
                problem = "crashed"
            else:
                if not reply.get("ok"):
                    raise SpeakerError(f"speech synthesis failed: {reply.get('error')}")
                return
            log.warning("tts: the worker %s (try %d of 2); restarting it", problem, attempt)
            self._kill()
            self.restarts += 1
        raise SpeakerError(f"speech synthesis {problem} twice on {text[:40]!r}; check that "
                           f"`espeak-ng hello` works, or raise speaker.synth_timeout_s")


# --------------------------------------------------------------------------------------------
# The cache


def engine_version() -> str:
    """pyttsx3 and eSpeak NG versions: part of the cache key, so an upgrade re-renders."""
    try:
        pyttsx3_version = importlib.metadata.version("pyttsx3")
    except importlib.metadata.PackageNotFoundError:
        pyttsx3_version = "none"
    espeak_version = "unknown"
    lib = ctypes.util.find_library("espeak-ng")
    if lib:
        try:
            info = ctypes.CDLL(lib).espeak_Info
            info.restype = ctypes.c_char_p
            espeak_version = (info(None) or b"unknown").decode()
        except (OSError, AttributeError):
            pass
    return f"pyttsx3 {pyttsx3_version}; espeak-ng {espeak_version}"


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("voiceskill")) / "tts"


def check_cache_dir(config: SpeakerConfig) -> Path:
    """The speech cache folder, made and proven writable (at start-up, before slow work), with
    the temporaries of killed runs removed; :class:`SpeakerError` says what is wrong."""
    cache_dir = config.cache_dir or default_cache_dir()
    problem = writable_dir_problem(cache_dir)
    if problem:
        raise SpeakerError(f"the speech cache {cache_dir} cannot be written ({problem}); set "
                           f"speaker.cache_dir to a writable folder")
    remove_dead_temps(cache_dir, ".*.tmp.wav")
    return cache_dir


def _read_pcm_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getnframes() == 0:
            raise ValueError(f"unexpected WAV format in {path}")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy(), w.getframerate()


class Synthesizer(_Closing):
    """Text → int16 PCM with a disk and memory cache in front of a :class:`TtsWorker`."""

    def __init__(self, config: SpeakerConfig = SpeakerConfig(),
                 worker_command: Sequence[str] | None = None) -> None:
        self.config = config
        self.cache_dir = config.cache_dir or default_cache_dir()
        self.engine = engine_version()
        self.worker = TtsWorker(config.synth_timeout_s, worker_command)
        self._memory: dict[str, tuple[np.ndarray, int]] = {}
        self.synthesized = 0
        """How many texts this instance actually synthesized (cache misses)."""

    def close(self) -> None:
        self.worker.close()

    def key(self, text: str) -> str:
        blob = json.dumps([text.strip(), self.config.voice, self.config.rate_wpm, self.engine])
        return hashlib.sha256(blob.encode()).hexdigest()

    def path(self, text: str) -> Path:
        return self.cache_dir / f"{self.key(text)}.wav"

    def is_cached(self, text: str) -> bool:
        return self.key(text) in self._memory or self.path(text).is_file()

    def pcm(self, text: str) -> tuple[np.ndarray, int]:
        """``(int16 samples, rate_hz)`` for ``text``: memory, then disk, then the worker."""
        key = self.key(text)
        if key in self._memory:
            return self._memory[key]
        path = self.path(text)
        if path.is_file():
            try:
                self._memory[key] = _read_pcm_wav(path)
                return self._memory[key]
            except (OSError, EOFError, ValueError, wave.Error) as exc:
                log.warning("tts: dropping unreadable cache file %s (%s)", path, exc)
                path.unlink(missing_ok=True)
        self._memory[key] = self._render(text, path)
        return self._memory[key]

    def _render(self, text: str, path: Path) -> tuple[np.ndarray, int]:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpeakerError(f"cannot create the TTS cache {self.cache_dir} ({exc.strerror}); "
                               f"set speaker.cache_dir to a writable folder") from exc
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.wav")
        started = time.monotonic()
        try:
            try:
                tmp.touch()  # the worker would fail silently (and slowly) where we cannot write
            except OSError as exc:
                raise SpeakerError(f"cannot write into the speech cache {self.cache_dir} ({exc.strerror}); "
                                   f"set speaker.cache_dir to a writable folder") from exc
            self.worker.synthesize(text.strip(), self.config.voice, self.config.rate_wpm, tmp)
            try:
                result = _read_pcm_wav(tmp)
            except (OSError, EOFError, ValueError, wave.Error) as exc:
                raise SpeakerError(f"eSpeak NG produced no usable audio for {text[:40]!r} ({exc})") from exc
            os.replace(tmp, path)
        except BaseException as exc:
            if not isinstance(exc, SpeakerError):  # interrupted (a signal): the child may be mid-write
                self.worker.abort()
            raise
        finally:
            tmp.unlink(missing_ok=True)
        self.synthesized += 1
        log.debug("tts: synthesized %d chars in %.0f ms", len(text), (time.monotonic() - started) * 1000)
        return result

    def prepare(self, texts: Iterable[str]) -> int:
        """Load or synthesize every text; returns how many had to be synthesized."""
        before = self.synthesized
        for text in texts:
            if text.strip():
                self.pcm(text)
        return self.synthesized - before


# --------------------------------------------------------------------------------------------
# Earcons


def earcon_pcm(kind: EarconKind, rate_hz: int = TTS_RATE_HZ) -> np.ndarray:
    """A short generated cue as float32 in [-1, 1]: rising chirp ("start"), falling chirp
    ("stop"), or a low two-tone buzz ("error"). 100-110 ms, 5 ms fades, no files."""
    if kind == "error":
        parts = [_tone(330.0, 330.0, 0.05, rate_hz), np.zeros(int(0.01 * rate_hz), np.float32),
                 _tone(220.0, 220.0, 0.05, rate_hz)]
        return np.concatenate(parts)
    if kind == "start":
        return _tone(660.0, 1320.0, 0.1, rate_hz)
    if kind == "stop":
        return _tone(1320.0, 660.0, 0.1, rate_hz)
    raise ValueError(f"unknown earcon {kind!r}; use start, stop or error")


def _tone(f0_hz: float, f1_hz: float, seconds: float, rate_hz: int) -> np.ndarray:
    n = int(seconds * rate_hz)
    t = np.arange(n) / rate_hz
    phase = 2 * math.pi * (f0_hz * t + (f1_hz - f0_hz) * t ** 2 / (2 * seconds))
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.005 * rate_hz))
    return (0.5 * np.sin(phase) * fade).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Speakers


class _SpeakerBase(_Closing):
    """What both speakers share: synthesis, earcons, the utterance bookkeeping."""

    rate_hz: int

    def __init__(self, config: SpeakerConfig, synthesizer: Synthesizer | None,
                 worker_command: Sequence[str] | None) -> None:
        if not 0.0 <= config.volume <= 1.0:
            raise SpeakerError(f"speaker volume must be between 0 and 1, not {config.volume}")
        self.config = config
        self.volume = config.volume
        self._own_synth = synthesizer is None
        self.synthesizer = synthesizer or Synthesizer(config, worker_command)
        self._utterances: list[Utterance] = []
        self._resampled: dict[str, np.ndarray] = {}
        self._last_first_sample_at: float | None = None

    def close(self) -> None:
        if self._own_synth:
            self.synthesizer.close()

    def prepare(self, texts: Iterable[str]) -> int:
        return self.synthesizer.prepare(texts)

    def _samples(self, pcm: np.ndarray, rate_hz: int, memo_key: str | None = None) -> np.ndarray:
        """int16 or float samples at ``rate_hz`` → float32 at the output rate (memoized by key)."""
        if memo_key is not None and memo_key in self._resampled:
            return self._resampled[memo_key]
        x = int16_to_float(pcm) if pcm.dtype == np.int16 else pcm.astype(np.float32)
        if rate_hz != self.rate_hz:
            from voiceskill.wavio import resample

            x = resample(x, rate_hz, self.rate_hz)
        if memo_key is not None:
            self._resampled[memo_key] = x
        return x

    def say(self, text: str) -> Utterance:
        if not text.strip():
            return self._enqueue(np.zeros(0, np.float32), "(nothing)")
        if not self.synthesizer.is_cached(text):
            log.info("tts: %r was not prepared; synthesizing it now", text[:40])
        pcm, rate_hz = self.synthesizer.pcm(text)
        return self._enqueue(self._samples(pcm, rate_hz, self.synthesizer.key(text)), text)

    def play_pcm(self, pcm: bytes, rate_hz: int, label: str = "pcm") -> Utterance:
        return self._enqueue(self._samples(np.frombuffer(pcm, dtype="<i2"), rate_hz), label)

    def earcon(self, kind: EarconKind) -> Utterance:
        return self._enqueue(self._samples(earcon_pcm(kind, self.rate_hz), self.rate_hz), f"earcon:{kind}")

    def _enqueue(self, samples: np.ndarray, label: str) -> Utterance:
        raise NotImplementedError

    @property
    def is_speaking(self) -> bool:
        self._utterances = [u for u in self._utterances if not u.done]
        return bool(self._utterances)

    @property
    def first_sample_at(self) -> float | None:
        return self._last_first_sample_at

    def wait(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.is_speaking:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True


PLAYBACK_RT_PRIORITY = 10
"""SCHED_RR priority asked for the playback threads: above every normal task, below the sound
server's own real-time threads (PipeWire and JACK use 20 and up)."""
PLAYBACK_NICE = -10


def thread_ids() -> set[int]:
    """The ids of this process's threads (Linux; empty elsewhere)."""
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def raise_thread_priority(ids: Iterable[int]) -> str:
    """Give threads that only move audio a head start over busy cores: ``SCHED_RR`` when allowed
    (root, CAP_SYS_NICE, or ``RLIMIT_RTPRIO`` as a system unit's ``LimitRTPRIO=`` sets it), else a
    lower nice value when allowed, else nothing. Returns "real-time", "raised" or "normal"."""
    wanted = sorted(ids)
    if not wanted:
        return "normal"
    for how in ("real-time", "raised"):
        try:
            for tid in wanted:
                if how == "real-time":
                    os.sched_setscheduler(tid, os.SCHED_RR, os.sched_param(PLAYBACK_RT_PRIORITY))
                else:
                    os.setpriority(os.PRIO_PROCESS, tid, PLAYBACK_NICE)
        except (OSError, AttributeError) as exc:
            log.debug("speaker: no %s priority for the playback threads (%s)", how, exc)
            continue
        return how
    return "normal"


@dataclass
class _Segment:
    samples: np.ndarray
    utterance: Utterance
    epoch: int
    pos: int = 0


class DeviceSpeaker(_SpeakerBase):
    """Plays through a PortAudio output stream (sounddevice) that stays open while in use.

    The stream callback (PortAudio's thread) pulls samples from a queue of segments and applies
    the volume; :meth:`stop` bumps an epoch so every queued or playing segment is dropped at the
    next block. ``on_first_sample(utterance)`` runs on PortAudio's thread when an utterance's
    first non-silent sample is handed over: keep it short.
    """

    def __init__(self, config: SpeakerConfig = SpeakerConfig(), *,
                 synthesizer: Synthesizer | None = None,
                 worker_command: Sequence[str] | None = None,
                 on_first_sample: Callable[[Utterance], None] | None = None) -> None:
        self._sd = import_sounddevice()
        self._device = find_device(config.device, "output")
        super().__init__(config, synthesizer, worker_command)
        self.on_first_sample = on_first_sample
        self.rate_hz, self._channels = pick_stream_format(self._device, "output", "float32", [TTS_RATE_HZ])
        self._stream: sounddevice.OutputStream | None = None
        self._segments: deque[_Segment] = deque()
        self._current: _Segment | None = None
        self._epoch = 0
        self._latency_s = config.latency_ms / 1000
        self._last_callback_at = 0.0
        self.underflows = 0
        """Blocks the driver had to play before we delivered them (stutter)."""
        self.priority = "normal"
        """What the playback threads got: "real-time", "raised" (nice) or "normal"."""

    def __enter__(self) -> DeviceSpeaker:
        self.open()
        return self

    @property
    def output_latency_s(self) -> float:
        """The output latency the device granted (what was asked until the stream opens)."""
        return self._latency_s

    # -- the stream

    def open(self) -> None:
        """Open and start the output stream (done lazily by the first sound, too). The threads
        the audio stack starts for it (PortAudio's callback thread, the sound server client's
        thread) get real-time priority when allowed (see :func:`raise_thread_priority`)."""
        if self._stream is not None:
            return
        threads_before = thread_ids()
        try:
            stream = self._sd.OutputStream(
                device=self._device, samplerate=self.rate_hz, channels=self._channels,
                dtype="float32", blocksize=max(1, self.rate_hz * self.config.block_ms // 1000),
                latency=self.config.latency_ms / 1000, callback=self._callback)
            stream.start()
        except Exception as exc:  # PortAudioError or ValueError from a vanished device
            raise SpeakerError(f"cannot open the output device ({exc}); check speaker.device "
                               f"(`voiceskill devices` lists them)") from exc
        self._stream = stream
        self._latency_s = float(stream.latency)
        self._last_callback_at = time.monotonic()
        time.sleep(0.01)  # PortAudio starts its callback thread with the stream
        self.priority = raise_thread_priority(thread_ids() - threads_before)
        log.debug("speaker: output open at %d Hz, %d channel(s), latency %.0f ms",
                  self.rate_hz, self._channels, self._latency_s * 1000)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            close_stream(stream, "speaker")

    def _ensure_stream(self) -> None:
        stream = self._stream
        if stream is not None and (not stream.active or time.monotonic() - self._last_callback_at > 2.0):
            log.warning("speaker: the output stream died; reopening it")
            self._close_stream()
        self.open()

    def close(self) -> None:
        self.stop()
        self._close_stream()
        super().close()

    # -- PortAudio's thread

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any,
                  status: sounddevice.CallbackFlags) -> None:
        now = time.monotonic()
        self._last_callback_at = now
        if status.output_underflow:
            self.underflows += 1
        try:  # seconds until this buffer reaches the DAC, by the driver's clock
            ahead_s = float(time_info.outputBufferDacTime - time_info.currentTime)
        except Exception:  # some hosts give no timing
            ahead_s = -1.0
        if not 0.0 <= ahead_s <= 1.0:
            ahead_s = self._latency_s
        out = outdata[:, 0]
        filled = 0
        volume = self.volume
        while filled < frames:
            seg = self._current
            if seg is None or seg.epoch != self._epoch:
                self._current = None
                if not self._segments:
                    break
                seg = self._segments.popleft()
                if seg.epoch != self._epoch:
                    continue
                self._current = seg
            n = min(frames - filled, seg.samples.size - seg.pos)
            chunk = seg.samples[seg.pos: seg.pos + n]
            out[filled: filled + n] = chunk * volume
            utt = seg.utterance
            if utt.first_sample_at is None:
                loud = np.flatnonzero(np.abs(chunk) > SILENCE_PEAK)
                if loud.size:
                    utt.first_sample_at = now
                    utt.first_sample_dac_at = now + ahead_s + (filled + int(loud[0])) / self.rate_hz
                    self._last_first_sample_at = now
                    if self.on_first_sample is not None:
                        self.on_first_sample(utt)
            seg.pos += n
            filled += n
            if seg.pos >= seg.samples.size:
                utt.finished_at = now + ahead_s + filled / self.rate_hz
                self._current = None
        out[filled:] = 0.0
        if self._channels > 1:
            outdata[:, 1:] = outdata[:, :1]

    # -- the caller's side

    def _enqueue(self, samples: np.ndarray, label: str) -> Utterance:
        utt = Utterance(label=label, duration_s=samples.size / self.rate_hz)
        if samples.size == 0:
            utt.finished_at = utt.queued_at
            return utt
        self._ensure_stream()
        self._utterances.append(utt)
        self._segments.append(_Segment(samples, utt, self._epoch))
        return utt

    def stop(self) -> None:
        self._epoch += 1
        self._segments.clear()
        now = time.monotonic()
        for utt in self._utterances:
            if utt.finished_at is None or utt.finished_at > now:
                utt.stopped = True
                utt.finished_at = now
        self._utterances.clear()


class WavFileSpeaker(_SpeakerBase):
    """``--speak-to FILE.wav``: everything that would be played is appended to one WAV file
    (replaced after each sound, so it is always complete; not touched before the first sound;
    an existing file that is not a WAV is never overwritten). Nothing waits: each sound counts
    as played the moment it is written."""

    def __init__(self, path: str | Path, config: SpeakerConfig = SpeakerConfig(), *,
                 synthesizer: Synthesizer | None = None,
                 worker_command: Sequence[str] | None = None, rate_hz: int = TTS_RATE_HZ) -> None:
        self.path = self.check_target(path)
        super().__init__(config, synthesizer, worker_command)
        self.rate_hz = rate_hz
        self._pcm = bytearray()

    @staticmethod
    def check_target(path: str | Path) -> Path:
        """``path`` if answers can be written there, else :class:`SpeakerError` saying why."""
        target = Path(path)
        problem = output_file_problem(target)
        if problem:
            raise SpeakerError(f"cannot write the answers to {target} ({problem}); "
                               f"choose another --speak-to file")
        return target

    def _write(self) -> None:
        """Replace the file with everything so far (whole or not at all: temp file + rename);
        nothing is written until there is a sound."""
        from voiceskill.wavio import write_wav

        try:
            with replacing(self.path) as tmp:
                write_wav(tmp, bytes(self._pcm), self.rate_hz)
        except OSError as exc:
            raise SpeakerError(f"cannot write {self.path} ({exc.strerror}); "
                               f"choose a writable --speak-to file") from exc

    def _enqueue(self, samples: np.ndarray, label: str) -> Utterance:
        utt = Utterance(label=label, duration_s=samples.size / self.rate_hz)
        if samples.size:
            self._pcm += float_to_pcm(samples * self.volume)
            self._write()
            utt.first_sample_at = self._last_first_sample_at = time.monotonic()
        utt.finished_at = time.monotonic()
        return utt

    def stop(self) -> None:
        """Nothing is ever playing."""


if __name__ == "__main__":
    sys.exit(worker_main())
