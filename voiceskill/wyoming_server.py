"""The coach over the Wyoming protocol (Home Assistant's voice services), on the ``wyoming`` library.

One asyncio loop serves every connection (:class:`wyoming.server.AsyncServer`, one
:class:`CoachHandler` per connection) from one loaded app (:class:`Coach`):

* ``describe`` -> ``info``: a **handle** program (the coach, answering from the article), an **asr**
  program (the coach's grammar-limited Vosk hearing) and, when a synthesizer is given, a **tts**
  program (the cached eSpeak NG voice, speaking only what the coach can say).
* ``transcript`` -> ``handled`` (the answer) or ``not-handled`` (off-topic: the fallback text, so
  Home Assistant can fall back to its own agent). A transcript this server's ``asr`` returned is
  answered as its decision step chose from every pass (once); any other text is routed as typed.
  Home Assistant opens one connection per utterance and passes ``context.conversation_id``:
  :class:`Conversations` keeps one :class:`~voiceskill.dialog.Dialog` per id ("say that again",
  "tell me more"), forgets it after ``conversation_idle_s`` and keeps at most ``max_conversations``.
* ``transcribe`` + ``audio-start``/``audio-chunk``/``audio-stop`` -> ``transcript``: audio in any
  rate, width and mono/stereo, converted to 16 kHz mono int16 with
  :class:`wyoming.audio.AudioChunkConverter` and decoded while it arrives (in a thread pool, so
  the loop keeps answering) through the same grammar, passes and decision as ``voiceskill listen``
  (:func:`voiceskill.passes.open_passes`, then :func:`voiceskill.decide.decide`).
* ``synthesize`` -> ``audio-start``/``audio-chunk``/``audio-stop``.

Limits (:class:`WyomingConfig`), each hitting only its own connection, with one log line: a header
line, data or payload larger than allowed (checked *before* it is read), a frame that is not
Wyoming, silence on the connection for ``idle_timeout_s``, a stream longer than ``max_audio_s`` of
audio or ``max_stream_s`` of wall time, more than ``max_connections`` connections or more than
``max_asr_streams`` concurrent streams (the extra one waits ``asr_wait_s``, then gets an error).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

from wyoming import audio as wyoming_audio
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    Describe,
    HandleModel,
    HandleProgram,
    Info,
    TtsProgram,
    TtsVoice,
)
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.tts import Synthesize

from voiceskill import __version__
from voiceskill.bounded import Recent
from voiceskill.decide import decide
from voiceskill.dialog import Dialog
from voiceskill.passes import Heard, MultiPassRecognizer, open_passes
from voiceskill.pcm import RATE_HZ, SAMPLE_WIDTH_BYTES
from voiceskill.recognizer import SpeechModel
from voiceskill.recognizer import Transcript as Words
from voiceskill.router import Reply, Router
from voiceskill.settings import DecisionConfig, RecognizerConfig, WyomingConfig

log = logging.getLogger(__name__)

_CONVERT_ERRORS = (ValueError, getattr(wyoming_audio.audioop, "error", ValueError))
_BYTES_PER_S = RATE_HZ * SAMPLE_WIDTH_BYTES


# --------------------------------------------------------------------------------------------
# Dialog state per conversation


class Conversations:
    """One :class:`Dialog` per conversation id, forgotten after ``idle_s`` without use; at most
    ``max_count`` are kept (the least recently used is dropped). Used from the event loop only."""

    def __init__(self, router: Router, max_count: int, idle_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.router = router
        self.max_count = max_count
        self.idle_s = idle_s
        self.clock = clock
        self._dialogs: Recent[str, tuple[Dialog, float]] = Recent(max_count, self._dropped)

    def __len__(self) -> int:
        return len(self._dialogs)

    def __contains__(self, conversation_id: str) -> bool:
        return conversation_id in self._dialogs

    def dialog(self, conversation_id: str | None) -> Dialog:
        """The conversation's dialog (a new one for a new id; a throwaway one for None)."""
        if conversation_id is None:
            return Dialog(self.router)
        now = self.clock()
        self._expire(now)
        entry = self._dialogs.get(conversation_id)
        dialog = entry[0] if entry is not None else Dialog(self.router)
        self._dialogs[conversation_id] = (dialog, now)
        return dialog

    def _dropped(self, conversation_id: str, _entry: tuple[Dialog, float]) -> None:
        log.info("conversation %s dropped: more than %d conversations", conversation_id, self.max_count)

    def _expire(self, now: float) -> None:
        while (oldest := self._dialogs.oldest()) is not None and now - oldest[1][1] >= self.idle_s:
            self._dialogs.pop(oldest[0])
            log.debug("conversation %s expired after %.0f s idle", oldest[0], now - oldest[1][1])


# --------------------------------------------------------------------------------------------
# The loaded app


class Coach:
    """What the server serves: the router (answers), the speech model (hearing) and optionally a
    synthesizer (:class:`voiceskill.speaker.Synthesizer`, not thread-safe: the server calls it
    from one thread)."""

    def __init__(self, router: Router, model: SpeechModel, recognizer_config: RecognizerConfig,
                 vocabulary: Iterable[str] | None, synthesizer: Any | None = None,
                 voice_name: str = "en-us", decision: DecisionConfig = DecisionConfig()) -> None:
        self.router = router
        self.model = model
        self.recognizer_config = recognizer_config
        self.vocabulary = None if vocabulary is None else frozenset(vocabulary)
        self.synthesizer = synthesizer
        self.voice_name = voice_name
        self.decision = decision
        self._speakable: set[str] = {t.strip() for t in router.answers()}
        self._decided: Recent[str, Reply] = Recent(self.DECIDED)

    DECIDED = 256
    """Transcripts whose decided reply is kept until a ``transcript`` event hands them back."""

    def open_ear(self) -> MultiPassRecognizer:
        """A fresh set of passes (recognizer sessions and denoisers) for one audio stream."""
        return open_passes(self.model, self.recognizer_config, self.vocabulary)

    def choose(self, heard: list[Heard]) -> Heard:
        """The decision step of ``listen`` and ``run`` (:func:`voiceskill.decide.decide`): the
        transcript to answer from, or an empty one when the passes do not agree well enough (Home
        Assistant then says it did not understand, instead of answering another question)."""
        decision = decide(heard, self.router, self.decision)
        if decision.caught and decision.heard is not None:
            if decision.reply is not None:  # answered as decided when Home Assistant hands it back
                self._decided[decision.heard.transcript.text] = decision.reply
            return decision.heard
        name = decision.heard.name if decision.heard is not None else (heard[0].name if heard else "plain")
        return Heard(name, Words("", (), True))

    def answer(self, dialog: Dialog, text: str) -> Reply:
        """The reply to a transcript: what the decision step chose for it when this server heard
        it (from every pass's words, once), else the text routed as typed."""
        decided = self._decided.pop(text)
        reply = dialog.respond(decided) if decided is not None else dialog.handle(text)
        if reply.answer:
            self._speakable.add(reply.answer.strip())  # finite: answers and dialog phrases
        return reply

    def can_say(self, text: str) -> bool:
        """The voice speaks only what the coach itself says (its cache stays bounded)."""
        return text.strip() in self._speakable

    def info(self) -> Info:
        article = self.router.article
        byline = f" {article.byline}" if article.byline else ""
        source = Attribution(name=f"{article.title}{byline}", url="")
        maker = Attribution(name="voiceskill", url="")
        handle = HandleProgram(
            name="voiceskill", attribution=maker, installed=True, version=__version__,
            description=f"Offline coach answering from the article \"{article.title}\"",
            models=[HandleModel(name=self.router.intents.subject_name or article.title, attribution=source,
                                installed=True, version=None, languages=["en"],
                                description=f"Answers about {self.router.intents.subject_name} from "
                                            f"\"{article.title}\"")])
        grammar = "the coach's words" if self.recognizer_config.grammar else "any English word"
        asr = AsrProgram(
            name="voiceskill-ear", attribution=maker, installed=True, version=__version__,
            description=f"Offline Vosk speech recognition limited to {grammar}",
            models=[AsrModel(name=self.model.path.name, languages=["en"], installed=True, version=None,
                             attribution=Attribution(name="Alpha Cephei (Vosk)", url="https://alphacephei.com/vosk/"),
                             description=f"passes: {', '.join(self.recognizer_config.passes)}")])
        tts = []
        if self.synthesizer is not None:
            tts.append(TtsProgram(
                name="voiceskill-voice", attribution=maker, installed=True, version=__version__,
                description="eSpeak NG voice of the coach (speaks the coach's own answers)",
                voices=[TtsVoice(name=self.voice_name, languages=["en"], installed=True, version=None,
                                 description="eSpeak NG", attribution=Attribution(
                                     name="eSpeak NG", url="https://github.com/espeak-ng/espeak-ng"))]))
        return Info(handle=[handle], asr=[asr], tts=tts)


# --------------------------------------------------------------------------------------------
# The connection


class _Refused(ValueError):
    """A frame broke a limit: the library's reader treats a ValueError as the end of the stream."""


class _LimitedReader:
    """The connection's stream reader, as :func:`wyoming.event.async_read_event` uses it
    (``readline`` + ``readexactly``), checking each header line's declared sizes *before* the
    library reads the data and payload, and timing out a silent client."""

    def __init__(self, reader: asyncio.StreamReader, config: WyomingConfig, peer: str) -> None:
        self._reader = reader
        self._config = config
        self._peer = peer
        self.refusal: str | None = None

    @property
    def raw(self) -> asyncio.StreamReader:
        return self._reader

    def at_eof(self) -> bool:
        return self._reader.at_eof()

    def feed_eof(self) -> None:
        self._reader.feed_eof()

    def _refuse(self, why: str) -> _Refused:
        self.refusal = why
        log.warning("connection %s closed: %s", self._peer, why)
        return _Refused(why)

    async def _timed(self, what: str, awaitable: Any) -> Any:
        try:
            async with asyncio.timeout(self._config.idle_timeout_s):
                return await awaitable
        except TimeoutError:
            raise self._refuse(f"nothing received for {self._config.idle_timeout_s:g} s ({what})") from None

    async def readline(self) -> bytes:
        try:
            line: bytes = await self._timed("waiting for an event", self._reader.readline())
        except _Refused:
            raise
        except ValueError:  # the stream's own limit: a header line longer than the buffer
            raise self._refuse(f"header line longer than {self._config.max_header_bytes} bytes") from None
        if not line:
            return line
        if len(line) > self._config.max_header_bytes:
            raise self._refuse(f"header line of {len(line)} bytes (limit {self._config.max_header_bytes})")
        try:
            header = json.loads(line)
        except ValueError:
            raise self._refuse("not a Wyoming event (the header is not JSON)") from None
        if not isinstance(header, dict) or not isinstance(header.get("type"), str):
            raise self._refuse("not a Wyoming event (no type)")
        for key, limit in (("data_length", self._config.max_data_bytes),
                           ("payload_length", self._config.max_payload_bytes)):
            size = header.get(key)
            if size is None:
                continue
            if not isinstance(size, int) or size < 0:
                raise self._refuse(f"bad {key} {size!r} in a {header['type']} event")
            if size > limit:
                raise self._refuse(f"{header['type']} event with {key} {size} bytes (limit {limit})")
        return line

    async def readexactly(self, n: int) -> bytes:
        if n > max(self._config.max_data_bytes, self._config.max_payload_bytes):  # checked above too
            raise self._refuse(f"frame of {n} bytes")
        data: bytes = await self._timed("reading a frame", self._reader.readexactly(n))
        return data


class _CoalescingWriter:
    """The connection's stream writer, collecting what :func:`wyoming.event.async_write_event`
    writes in pieces (header line, data, payload) into one ``send`` at its ``drain()``: one
    system call per event instead of two or three (it halves the server's cost of a reply)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._parts.append(data)

    def writelines(self, data: Iterable[bytes]) -> None:
        self._parts.extend(data)

    async def drain(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts.clear()
            self._writer.write(data)
        await self._writer.drain()

    def __getattr__(self, name: str) -> Any:  # close, write_eof, get_extra_info, ...
        return getattr(self._writer, name)


class _Stream:
    """One audio stream: conversion to 16 kHz mono int16, decoding as it arrives (one batch at a
    time in the decode pool), and the final choice among the passes."""

    def __init__(self, coach: Coach, ear: MultiPassRecognizer, executor: ThreadPoolExecutor) -> None:
        self.coach = coach
        self.ear = ear
        self.executor = executor
        self.converter = AudioChunkConverter(rate=RATE_HZ, width=SAMPLE_WIDTH_BYTES, channels=1)
        self.pending: list[bytes] = []
        self.audio_bytes = 0
        self.started = time.monotonic()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def audio_s(self) -> float:
        return self.audio_bytes / _BYTES_PER_S

    def feed(self, chunk: AudioChunk) -> None:
        pcm = self.converter.convert(chunk).audio
        self.audio_bytes += len(pcm)
        self.pending.append(pcm)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._decode())

    async def _decode(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending and not self._closed:
            batch = b"".join(self.pending)
            self.pending.clear()
            await loop.run_in_executor(self.executor, self.ear.accept, batch)

    async def finish(self) -> Heard:
        """Decode what is left, end every pass and pick the best hypothesis."""
        if self._worker is not None:
            await asyncio.shield(self._worker)
        if self.pending:  # fed while the last batch finished
            await self._decode()
        loop = asyncio.get_running_loop()
        heard = await loop.run_in_executor(self.executor, self.ear.hear)
        return self.coach.choose(heard)

    async def close(self) -> None:
        """Drop what is not decoded, wait for the batch in flight, free the recognizers."""
        self._closed = True
        self.pending.clear()
        if self._worker is not None and not self._worker.done():
            try:
                await asyncio.shield(self._worker)
            except Exception:  # noqa: BLE001  (the stream is being thrown away)
                log.debug("decoding of a dropped stream failed", exc_info=True)
        self.ear.close()


class CoachHandler(AsyncEventHandler):
    """One Wyoming connection (created by :class:`WyomingServer` for each client)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 server: WyomingServer, number: int, refuse: str | None = None) -> None:
        peer = writer.get_extra_info("peername")
        self.peer = f"#{number}" + (f" ({peer[0]}:{peer[1]})" if isinstance(peer, tuple) and len(peer) >= 2 else "")
        self.limited = _LimitedReader(reader, server.config, self.peer)
        super().__init__(self.limited, _CoalescingWriter(writer))  # type: ignore[arg-type]
        self.server = server
        self.config = server.config
        self.coach = server.coach
        self._refuse = refuse
        self._transcribe: Transcribe | None = None
        self._stream: _Stream | None = None
        self._slot = False
        self._overdue: asyncio.TimerHandle | None = None
        self._closing = False

    # -- life cycle ------------------------------------------------------------------------------
    async def run(self) -> None:
        if self._refuse is not None:
            log.warning("connection %s refused: %s", self.peer, self._refuse)
            try:
                await self.write_event(Error(text=self._refuse, code="busy").event())
                await self._linger(0.5)
            except (TimeoutError, ConnectionError, _Refused):
                pass
            finally:
                await self.disconnect()
                self.writer.close()
            return
        try:
            await super().run()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("connection %s: the client went away (%s)", self.peer, type(exc).__name__)
        except _Refused:
            pass  # logged where it happened
        except Exception:  # noqa: BLE001  (one connection must never take the server down)
            log.exception("connection %s: unexpected error; closing it", self.peer)
        else:
            if not (self.limited.at_eof() or self.limited.refusal or self._closing or not self._is_running):
                log.warning("connection %s closed: a malformed event", self.peer)

    async def disconnect(self) -> None:
        if self._stream is not None:
            log.info("connection %s ended mid-stream: %.1f s of audio dropped", self.peer, self._stream.audio_s)
        await self._end_stream()
        self.server.connection_closed(self)

    async def write_event(self, event: Event) -> None:
        try:
            async with asyncio.timeout(self.config.idle_timeout_s):
                await super().write_event(event)
        except TimeoutError:
            raise self.limited._refuse(f"the client read nothing for {self.config.idle_timeout_s:g} s") from None

    async def _fail(self, text: str, code: str) -> bool:
        """Tell the client what went wrong and close the connection."""
        self._closing = True
        log.warning("connection %s: %s", self.peer, text)
        await self.write_event(Error(text=text, code=code).event())
        await self._linger()
        return False

    async def _linger(self, limit_s: float = 1.0) -> None:
        """Half-close, then discard what the client still sends for up to ``limit_s``: closing a
        socket with unread input resets it, and a reset may destroy the error event in flight."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        try:
            if self.writer.can_write_eof():
                self.writer.write_eof()
            while (left := deadline - loop.time()) > 0:
                if not await asyncio.wait_for(self.limited.raw.read(65_536), left):
                    break
        except (TimeoutError, ConnectionError, OSError):
            pass

    # -- events ------------------------------------------------------------------------------------
    async def handle_event(self, event: Event) -> bool:
        try:
            if Describe.is_type(event.type):
                await self.write_event(self.server.info.event())
                return True
            if Transcript.is_type(event.type):
                return await self._on_transcript(Transcript.from_event(event))
            if Transcribe.is_type(event.type):
                self._transcribe = Transcribe.from_event(event)
                return True
            if AudioStart.is_type(event.type):
                return await self._on_audio_start(AudioStart.from_event(event))
            if AudioChunk.is_type(event.type):
                return await self._on_audio_chunk(AudioChunk.from_event(event))
            if AudioStop.is_type(event.type):
                return await self._on_audio_stop()
            if Synthesize.is_type(event.type):
                return await self._on_synthesize(Synthesize.from_event(event))
        except (KeyError, TypeError, AttributeError) as exc:
            return await self._fail(f"malformed {event.type} event ({type(exc).__name__}: {exc})", "bad-event")
        log.debug("connection %s: ignoring a %s event", self.peer, event.type)
        return True

    async def _on_transcript(self, transcript: Transcript) -> bool:
        text = transcript.text
        if not isinstance(text, str):
            return await self._fail("transcript text is not a string", "bad-event")
        if len(text) > self.config.max_text_chars:
            return await self._fail(f"transcript of {len(text)} characters (limit "
                                    f"{self.config.max_text_chars})", "too-long")
        context = transcript.context if isinstance(transcript.context, dict) else None
        conversation_id = context.get("conversation_id") if context else None
        conversation = None if conversation_id is None else str(conversation_id)[:200]
        reply = self.coach.answer(self.server.conversations.dialog(conversation), text)
        log.info("handle %s [%s]: %r -> %s (%.2f)", self.peer, conversation or "-", text,
                 reply.intent or "not handled", reply.confidence)
        answer_context = {"conversation_id": conversation_id} if conversation_id is not None else None
        if reply.intent is None:
            await self.write_event(NotHandled(text=reply.answer, context=answer_context).event())
        else:
            await self.write_event(Handled(text=reply.answer, context=answer_context).event())
        return True

    async def _on_audio_start(self, start: AudioStart) -> bool:
        if self._stream is not None:  # each stream costs a decoder set: no restarting without an end
            return await self._fail("audio-start inside an audio stream (send audio-stop first)", "bad-event")
        if not (isinstance(start.rate, int) and 4_000 <= start.rate <= 192_000
                and start.width in (1, 2, 3, 4) and start.channels in (1, 2)):
            return await self._fail(f"unsupported audio: {start.rate} Hz, {start.width}-byte samples, "
                                    f"{start.channels} channels (need 1 or 2 channels, 4-192 kHz)",
                                    "unsupported-audio")
        try:
            await asyncio.wait_for(self.server.asr_slots.acquire(), self.config.asr_wait_s)
        except TimeoutError:
            return await self._fail(f"all {self.config.max_asr_streams} decoders are busy", "busy")
        self._slot = True
        self.server.open_streams += 1
        loop = asyncio.get_running_loop()
        try:
            ear = await loop.run_in_executor(self.server.decoders, self.coach.open_ear)
        except BaseException:
            self._release_slot()
            raise
        self._stream = _Stream(self.coach, ear, self.server.decoders)
        self._overdue = loop.call_later(self.config.max_stream_s, self._stream_overdue)
        log.debug("connection %s: audio stream %d Hz x%d x%d", self.peer, start.rate, start.width,
                  start.channels)
        return True

    def _stream_overdue(self) -> None:
        self._overdue = None
        if self._closing:
            return
        log.warning("connection %s closed: the audio stream lasted more than %g s", self.peer,
                    self.config.max_stream_s)
        asyncio.ensure_future(self._close_overdue())

    async def _close_overdue(self) -> None:
        self._closing = True
        try:
            await self._end_stream()
            await self.write_event(Error(text=f"audio stream longer than {self.config.max_stream_s:g} s",
                                         code="stream-too-long").event())
            await self._linger()
        except (ConnectionError, _Refused, RuntimeError):
            pass
        except Exception:  # noqa: BLE001
            log.exception("connection %s: closing an overdue stream failed", self.peer)
        await self.stop()

    async def _on_audio_chunk(self, chunk: AudioChunk) -> bool:
        stream = self._stream
        if stream is None:
            log.debug("connection %s: audio chunk outside a stream, ignored", self.peer)
            return True
        frame = chunk.width * chunk.channels if isinstance(chunk.width, int) and isinstance(chunk.channels, int) else 0
        if not (chunk.width in (1, 2, 3, 4) and chunk.channels in (1, 2) and isinstance(chunk.rate, int)
                and 4_000 <= chunk.rate <= 192_000) or len(chunk.audio) % frame:
            return await self._fail("malformed audio chunk (format or length)", "unsupported-audio")
        try:
            stream.feed(chunk)
        except _CONVERT_ERRORS as exc:
            return await self._fail(f"audio chunk cannot be converted ({exc})", "unsupported-audio")
        if stream.audio_s > self.config.max_audio_s:
            return await self._fail(f"audio stream longer than {self.config.max_audio_s:g} s of audio",
                                    "stream-too-long")
        return True

    async def _on_audio_stop(self) -> bool:
        stream = self._stream
        if stream is None:
            if self._transcribe is not None:  # a request with no audio: nothing was said
                self._transcribe = None
                await self.write_event(Transcript(text="", language="en").event())
            return True
        started = time.perf_counter()
        if self._overdue is not None:  # the stream is over: no wall-time limit while it is finished
            self._overdue.cancel()
            self._overdue = None
        try:
            best = await stream.finish()
        finally:
            await self._end_stream()
        self._transcribe = None
        log.info("asr %s: %.1f s of audio -> %r (pass %s) %.0f ms after audio-stop", self.peer,
                 stream.audio_s, best.transcript.text, best.name, (time.perf_counter() - started) * 1000)
        await self.write_event(Transcript(text=best.transcript.text, language="en").event())
        return True

    async def _end_stream(self) -> None:
        if self._overdue is not None:
            self._overdue.cancel()
            self._overdue = None
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.close()
        self._release_slot()

    def _release_slot(self) -> None:
        if self._slot:
            self._slot = False
            self.server.open_streams -= 1
            self.server.asr_slots.release()

    async def _on_synthesize(self, request: Synthesize) -> bool:
        synthesizer = self.coach.synthesizer
        text = request.text if isinstance(request.text, str) else ""
        if synthesizer is None:
            return await self._fail("this server has no voice (started with --no-tts)", "no-tts")
        if len(text) > self.config.max_text_chars:
            return await self._fail(f"text of {len(text)} characters (limit {self.config.max_text_chars})",
                                    "too-long")
        if not self.coach.can_say(text):
            log.info("tts %s: refused a text the coach does not say: %r", self.peer, text[:60])
            await self.write_event(Error(text="this voice only speaks the coach's own answers",
                                         code="unknown-text").event())
            return True
        loop = asyncio.get_running_loop()
        try:
            samples, rate = await loop.run_in_executor(self.server.voice, synthesizer.pcm, text)
        except Exception as exc:  # noqa: BLE001  (SpeakerError and the worker's own failures)
            log.warning("tts %s: synthesis failed: %s", self.peer, exc)
            await self.write_event(Error(text=f"speech synthesis failed: {exc}", code="tts-failed").event())
            return True
        pcm = samples.astype("<i2").tobytes()
        step = max(1, rate * self.config.tts_chunk_ms // 1000) * SAMPLE_WIDTH_BYTES
        await self.write_event(AudioStart(rate=rate, width=SAMPLE_WIDTH_BYTES, channels=1).event())
        for i in range(0, len(pcm), step):
            await self.write_event(AudioChunk(rate=rate, width=SAMPLE_WIDTH_BYTES, channels=1,
                                              audio=pcm[i:i + step]).event())
        await self.write_event(AudioStop().event())
        log.info("tts %s: %d ms of speech for %r", self.peer, len(pcm) * 1000 // (rate * 2), text[:60])
        return True


# --------------------------------------------------------------------------------------------
# The server


class WyomingServer:
    """The coach served over Wyoming: an async context manager (``async with``) that starts
    listening on entry, and on exit stops every connection and the worker threads."""

    def __init__(self, coach: Coach, config: WyomingConfig = WyomingConfig()) -> None:
        self.coach = coach
        self.config = config
        self.info = coach.info()
        self.conversations = Conversations(coach.router, config.max_conversations, config.conversation_idle_s)
        threads = config.decode_threads or max(1, os.cpu_count() or 1)
        self.decoders = ThreadPoolExecutor(threads, thread_name_prefix="wyoming-asr")
        self.voice = ThreadPoolExecutor(1, thread_name_prefix="wyoming-tts")
        self._server: AsyncServer | None = None
        self._handlers: set[CoachHandler] = set()
        self._numbers = itertools.count(1)
        self._asr_slots: asyncio.Semaphore | None = None
        self.open_streams = 0
        """Audio streams holding a decoder now."""

    @property
    def asr_slots(self) -> asyncio.Semaphore:
        if self._asr_slots is None:
            self._asr_slots = asyncio.Semaphore(self.config.max_asr_streams)
        return self._asr_slots

    @property
    def connections(self) -> int:
        return len(self._handlers)

    def _handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> CoachHandler:
        refuse = None
        if len(self._handlers) >= self.config.max_connections:
            refuse = f"more than {self.config.max_connections} connections"
        handler = CoachHandler(reader, writer, self, next(self._numbers), refuse)
        if refuse is None:
            self._handlers.add(handler)
        return handler

    def connection_closed(self, handler: CoachHandler) -> None:
        self._handlers.discard(handler)

    def prepare_voice(self) -> None:
        """Synthesize (or load from the disk cache) every answer in the voice's own thread, one
        text per task, so serving starts at once and :meth:`close` can drop what is left."""
        synthesizer = self.coach.synthesizer
        if synthesizer is None:
            return
        texts = [t for t in self.coach.router.answers() if t.strip()]
        started = time.monotonic()

        def prepare(text: str, last: bool) -> None:
            try:
                synthesizer.pcm(text)
            except Exception as exc:  # noqa: BLE001  (that text then fails per request, with an error event)
                log.warning("tts: preparing %r failed: %s", text[:40], exc)
            if last:
                log.info("tts: %d answers ready in %.1f s", len(texts), time.monotonic() - started)

        for i, text in enumerate(texts):
            self.voice.submit(prepare, text, i == len(texts) - 1)

    async def start(self) -> None:
        """Listen (returns once the socket accepts connections)."""
        self._server = AsyncServer.from_uri(self.config.uri)
        await self._server.start(self._handler)
        self.prepare_voice()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop listening, close every connection and wait (up to ``timeout_s``) for them to end."""
        if self._server is not None:
            await self._server.stop()  # closes the listening socket and stops every handler
            self._server = None
        deadline = time.monotonic() + timeout_s
        while self._handlers and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def close(self) -> None:
        self.decoders.shutdown(wait=True, cancel_futures=True)
        self.voice.shutdown(wait=True, cancel_futures=True)

    async def __aenter__(self) -> WyomingServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.close)
