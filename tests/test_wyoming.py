"""``voiceskill wyoming``: the coach over the Wyoming protocol, tested as Home Assistant talks to it:
through the real ``wyoming`` client library (:class:`wyoming.client.AsyncTcpClient`) over
loopback, against the real router, speech model and (for tts) eSpeak NG voice."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient, AsyncUnixClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize

from audio_fixtures import AudioRow, answer_ok, dev_audio, topics  # noqa: F401 (fixtures)
from conftest import REPO, require
from voiceskill.app import build_coach
from voiceskill.settings import AppConfig, WyomingConfig
from voiceskill.errors import ModelError
from voiceskill.recognizer import SpeechModel
from voiceskill.router import Router
from voiceskill.wyoming_server import Coach, Conversations, WyomingServer

READ_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.load()


@pytest.fixture(scope="module")
def model() -> SpeechModel:
    from voiceskill.models import resolve_model_dir

    try:
        path = resolve_model_dir()
    except ModelError as exc:
        require(False, f"the Vosk model ({exc})")
        raise
    with SpeechModel(path) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def coach(router: Router, model: SpeechModel) -> Iterator[Coach]:
    with build_coach(AppConfig(), router=router, model=model, tts=False) as built:  # as `voiceskill wyoming` builds it
        yield built


def serve(coach: Coach, scenario: Callable[[WyomingServer, int], Awaitable[Any]], **limits: Any) -> Any:
    """Run ``scenario(server, port)`` against a server listening on a free loopback port."""
    port = free_port()
    config = WyomingConfig(uri=f"tcp://127.0.0.1:{port}", **limits)

    async def main() -> Any:
        async with WyomingServer(coach, config) as server:
            return await asyncio.wait_for(scenario(server, port), 120)

    return asyncio.run(main())


async def read(client: Any, timeout_s: float = READ_TIMEOUT_S) -> Event | None:
    return await asyncio.wait_for(client.read_event(), timeout_s)


async def ask(port: int, text: str, conversation_id: str | None = None) -> Event:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        context = None if conversation_id is None else {"conversation_id": conversation_id}
        await client.write_event(Transcript(text=text, context=context).event())
        event = await read(client)
    assert event is not None
    return event


async def hang_up(client: AsyncTcpClient) -> None:
    """Disconnect a client the server may already have reset."""
    try:
        await client.disconnect()
    except ConnectionError:
        pass


def wav_chunks(path: Path, chunk_ms: int = 100) -> tuple[AudioStart, list[AudioChunk]]:
    """A WAV file as a client sends it: its own rate, width and channels."""
    with wave.open(str(path), "rb") as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        frames = w.readframes(w.getnframes())
    step = rate * chunk_ms // 1000 * width * channels
    chunks = [AudioChunk(rate=rate, width=width, channels=channels, audio=frames[i:i + step])
              for i in range(0, len(frames), step)]
    return AudioStart(rate=rate, width=width, channels=channels), chunks


async def transcribe(port: int, path: Path) -> str:
    start, chunks = wav_chunks(path)
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(start.event())
        for chunk in chunks:
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        event = await read(client)
    assert event is not None and Transcript.is_type(event.type), event
    return Transcript.from_event(event).text


# -- describe and handle ------------------------------------------------------------------------


def test_describe_lists_the_coach_and_its_ear(coach: Coach) -> None:
    async def scenario(server: WyomingServer, port: int) -> Info:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            event = await read(client)
        assert event is not None and Info.is_type(event.type)
        return Info.from_event(event)

    info = serve(coach, scenario)
    assert [p.name for p in info.handle] == ["voiceskill"]
    model = info.handle[0].models[0]
    assert model.languages == ["en"]
    assert coach.router.article.title in model.attribution.name
    assert info.handle[0].installed and info.asr[0].installed
    assert info.asr[0].models[0].languages == ["en"]
    assert info.tts == []  # no synthesizer given: no voice offered


def test_handle_answers_on_topic_and_does_not_handle_off_topic(coach: Coach, topics: dict) -> None:
    async def scenario(server: WyomingServer, port: int) -> tuple[Event, Event]:
        return (await ask(port, "how much water should I drink each day", "c1"),
                await ask(port, "what is the capital of france", "c1"))

    on, off = serve(coach, scenario)
    assert Handled.is_type(on.type), on
    assert answer_ok("water", "water", Handled.from_event(on).text, topics)
    assert Handled.from_event(on).context == {"conversation_id": "c1"}
    assert NotHandled.is_type(off.type), off
    assert NotHandled.from_event(off).text == coach.router.fallback


def test_a_transcript_it_heard_is_answered_as_its_decision_chose(coach: Coach) -> None:
    """Home Assistant hands the asr transcript back as a transcript event: the answer is what the
    decision step chose from the words with their confidences, not the words routed as typed."""
    from voiceskill.passes import Heard
    from voiceskill.recognizer import Transcript as Words
    from voiceskill.recognizer import Word

    text = "why do my glutes keep cramping"
    unsure = {"keep": 0.3, "cramping": 0.3}  # heard, but the recognizer was unsure of two words
    words = tuple(Word(w, unsure.get(w, 1.0), 0.3 * i, 0.3 * i + 0.3) for i, w in enumerate(text.split()))
    heard = coach.choose([Heard("plain", Words(text, words, True))])
    assert heard.transcript.text == text
    assert coach.router.route(text).intent == "causes"  # as typed

    async def scenario(server: WyomingServer, port: int) -> tuple[Event, Event]:
        return await ask(port, text, "d1"), await ask(port, text, "d2")

    decided, typed = serve(coach, scenario)
    assert NotHandled.is_type(decided.type), decided  # the decision: not sure of a topic
    assert NotHandled.from_event(decided).text == coach.router.fallback
    assert Handled.is_type(typed.type), typed  # once: the same words again are routed as typed


def test_tell_me_more_goes_on_in_the_same_conversation_across_connections(coach: Coach) -> None:
    water = coach.router.intents.by_name("water")

    async def scenario(server: WyomingServer, port: int) -> list[str | None]:
        texts = []
        for text in ("how much water should I drink", "tell me more", "say that again"):
            event = await ask(port, text, "same-id")  # one connection per utterance, as Home Assistant
            assert Handled.is_type(event.type), event
            texts.append(Handled.from_event(event).text)
        fresh = await ask(port, "tell me more", "another-id")
        texts.append(Handled.from_event(fresh).text)
        return texts

    first, more, again, fresh = serve(coach, scenario)
    assert first == water.answer
    assert more == water.more[0]
    assert again == water.more[0]
    assert fresh != water.more[0]  # a new conversation has no topic yet


def test_two_interleaved_conversations_are_kept_apart(coach: Coach) -> None:
    water = coach.router.intents.by_name("water")
    doctor = coach.router.intents.by_name("doctor")

    async def scenario(server: WyomingServer, port: int) -> dict[str, str | None]:
        await ask(port, "how much water should I drink", "a")
        await ask(port, "when should I see a doctor about cramps", "b")
        more_a = await ask(port, "tell me more", "a")
        again_b = await ask(port, "say that again", "b")
        return {"a": Handled.from_event(more_a).text, "b": Handled.from_event(again_b).text}

    replies = serve(coach, scenario)
    assert replies["a"] == water.more[0]
    assert replies["b"] == doctor.answer


def test_fifty_concurrent_handle_clients(coach: Coach) -> None:
    water = coach.router.intents.by_name("water")

    async def scenario(server: WyomingServer, port: int) -> list[tuple[str | None, str | None]]:
        async def one(i: int) -> tuple[str | None, str | None]:
            first = await ask(port, "how much water should I drink", f"conv-{i}")
            more = await ask(port, "tell me more", f"conv-{i}")
            return Handled.from_event(first).text, Handled.from_event(more).text

        results = await asyncio.gather(*(one(i) for i in range(50)))
        assert len(server.conversations) == 50
        return results

    results = serve(coach, scenario)
    assert results == [(water.answer, water.more[0])] * 50


def test_conversations_expire_when_idle_and_are_capped(router: Router) -> None:
    now = [0.0]
    conversations = Conversations(router, max_count=3, idle_s=60.0, clock=lambda: now[0])
    first = conversations.dialog("a")
    assert conversations.dialog("a") is first
    for name in ("b", "c", "d"):
        conversations.dialog(name)
    assert "a" not in conversations and len(conversations) == 3  # the least recently used went
    now[0] = 61.0
    conversations.dialog("e")
    assert len(conversations) == 1 and "e" in conversations  # b, c, d expired
    assert conversations.dialog(None) is not conversations.dialog(None)  # no id: nothing kept


# -- asr ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spoken(dev_audio: list[AudioRow]) -> list[AudioRow]:
    """Eight clean rendered questions in several voices, one per topic, a fallback among them."""
    chosen: dict[str, AudioRow] = {}
    for row in dev_audio:
        if row.snr == "clean" and row.topic != "wake" and row.topic not in chosen:
            chosen[row.topic] = row
    rows = [chosen[t] for t in ("water", "causes", "doctor", "warmup", "nutrients", "diet", "signs", "fallback")
            if t in chosen]
    assert len(rows) == 8
    return rows


def _judge(coach: Coach, rows: list[AudioRow], heard: list[str], topics: dict) -> list[tuple[str, str]]:
    wrong = []
    for row, text in zip(rows, heard):
        reply = coach.router.route(text)
        if not answer_ok(row.topic, reply.intent, reply.answer, topics):
            wrong.append((row.question, text))
    return wrong


def test_asr_hears_rendered_questions_at_16_khz(coach: Coach, spoken: list[AudioRow], topics: dict) -> None:
    async def scenario(server: WyomingServer, port: int) -> list[str]:
        return [await transcribe(port, row.path) for row in spoken]

    heard = serve(coach, scenario)
    wrong = _judge(coach, spoken, heard, topics)
    assert len(wrong) <= 1, wrong


def test_asr_hears_44_1_khz_stereo(coach: Coach, spoken: list[AudioRow], topics: dict, tmp_path: Path) -> None:
    require(shutil.which("sox"), "sox (apt-get install sox)")
    converted = []
    for row in spoken:
        out = tmp_path / f"{row.path.stem}-44k-stereo.wav"
        subprocess.run(["sox", str(row.path), "-r", "44100", "-c", "2", "-b", "16", str(out)], check=True)
        with wave.open(str(out), "rb") as w:
            assert (w.getframerate(), w.getnchannels()) == (44100, 2)
        converted.append(out)

    async def scenario(server: WyomingServer, port: int) -> list[str]:
        return [await transcribe(port, path) for path in converted]

    heard = serve(coach, scenario)
    wrong = _judge(coach, spoken, heard, topics)
    assert len(wrong) <= 1, wrong


def test_a_client_killed_mid_stream_frees_its_decoder(coach: Coach, spoken: list[AudioRow],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    start, chunks = wav_chunks(spoken[0].path)

    async def scenario(server: WyomingServer, port: int) -> str:
        for _ in range(server.config.max_asr_streams + 2):  # more kills than there are decoders
            client = AsyncTcpClient("127.0.0.1", port)
            await client.connect()
            await client.write_event(Transcribe().event())
            await client.write_event(start.event())
            for chunk in chunks[:len(chunks) // 2]:
                await client.write_event(chunk.event())
            client._writer.transport.abort()  # the client dies: no audio-stop, no FIN (a reset)
        for _ in range(200):
            if server.connections == 0:
                break
            await asyncio.sleep(0.05)
        assert server.connections == 0
        assert server.open_streams == 0  # every decoder is free
        return await transcribe(port, spoken[0].path)  # and the server still hears

    with caplog.at_level(logging.INFO, logger="voiceskill.wyoming_server"):
        text = serve(coach, scenario, max_asr_streams=2, asr_wait_s=20.0)
    assert text
    assert sum("mid-stream" in r.getMessage() for r in caplog.records) == 4


def test_a_10_mb_frame_closes_only_its_connection(coach: Coach, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(server: WyomingServer, port: int) -> tuple[Event | None, Event]:
        async with AsyncTcpClient("127.0.0.1", port) as bystander:
            client = AsyncTcpClient("127.0.0.1", port)
            await client.connect()
            await client.write_event(Transcribe().event())
            await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
            try:
                await client.write_event(AudioChunk(rate=16000, width=2, channels=1,
                                                    audio=bytes(10 * 1024 * 1024)).event())
                closed = await read(client, 10)
            except ConnectionError:  # the server hung up while we were still sending
                closed = None
            await hang_up(client)
            await bystander.write_event(Transcript(text="how much water should I drink").event())
            answer = await read(bystander)
        assert answer is not None
        return closed, answer

    with caplog.at_level(logging.INFO, logger="voiceskill.wyoming_server"):
        closed, answer = serve(coach, scenario)
    assert closed is None  # the server hung up instead of reading 10 MB
    assert Handled.is_type(answer.type)
    assert any("payload_length 10485760" in r.getMessage() for r in caplog.records)


def test_garbage_and_an_idle_client_are_closed(coach: Coach, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(server: WyomingServer, port: int) -> tuple[bytes, bytes, float]:
        # not the wyoming client: these bytes are deliberately not Wyoming
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await writer.drain()
        garbage_reply = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        idle = AsyncTcpClient("127.0.0.1", port)
        await idle.connect()
        t0 = time.monotonic()
        idle_reply = await read(idle, 10)
        waited = time.monotonic() - t0
        await idle.disconnect()
        return garbage_reply, idle_reply, waited

    with caplog.at_level(logging.INFO, logger="voiceskill.wyoming_server"):
        garbage_reply, idle_reply, waited = serve(coach, scenario, idle_timeout_s=0.5)
    assert garbage_reply == b""
    assert idle_reply is None and waited < 5
    messages = [r.getMessage() for r in caplog.records]
    assert any("not a Wyoming event" in m for m in messages)
    assert any("nothing received for 0.5 s" in m for m in messages)


def test_a_never_ending_stream_is_cut_off(coach: Coach, caplog: pytest.LogCaptureFixture) -> None:
    silence = AudioChunk(rate=16000, width=2, channels=1, audio=bytes(3200))  # 100 ms

    async def endless(port: int, pause_s: float) -> tuple[Error, int]:
        client = AsyncTcpClient("127.0.0.1", port)
        await client.connect()
        try:
            await client.write_event(Transcribe().event())
            await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
            sent = 0
            reply: asyncio.Task[Event | None] = asyncio.create_task(client.read_event())
            while not reply.done() and sent < 10_000:
                try:
                    await client.write_event(silence.event())
                except ConnectionError:
                    break
                sent += 1
                await asyncio.sleep(pause_s)
            event = await asyncio.wait_for(reply, 10)
        finally:
            await hang_up(client)
        assert event is not None and Error.is_type(event.type), event
        return Error.from_event(event), sent

    async def scenario(server: WyomingServer, port: int) -> tuple[tuple[Error, int], tuple[Error, int]]:
        too_much = await endless(port, 0.0)  # faster than real time: the audio limit
        too_long = await endless(port, 0.2)  # slower than real time: the wall-time limit
        assert server.open_streams == 0
        return too_much, too_long

    with caplog.at_level(logging.INFO, logger="voiceskill.wyoming_server"):
        (audio_error, sent_fast), (time_error, sent_slow) = serve(coach, scenario, max_audio_s=2.0,
                                                                 max_stream_s=1.0)
    assert audio_error.code == "stream-too-long" and "2 s of audio" in audio_error.text
    assert time_error.code == "stream-too-long" and "longer than 1 s" in time_error.text
    assert sent_slow < 20  # 5 chunks a second for about 1 s
    messages = [r.getMessage() for r in caplog.records]
    assert any("2 s of audio" in m for m in messages) and any("more than 1 s" in m for m in messages)
    # the client sent far more than the limit (it does not wait), the server took in only the limit
    dropped = [float(m.split("ended mid-stream: ")[1].split(" s")[0]) for m in messages if "mid-stream" in m]
    assert sent_fast > 20 and dropped and max(dropped) <= 2.2


def test_connections_and_decoders_beyond_the_limits_are_refused(coach: Coach,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(server: WyomingServer, port: int) -> tuple[Event | None, Event | None, Event | None]:
        holders = [AsyncTcpClient("127.0.0.1", port) for _ in range(2)]
        for holder in holders:
            await holder.connect()
        # the first holder takes the only decoder and keeps it
        await holders[0].write_event(Transcribe().event())
        await holders[0].write_event(AudioStart(rate=16000, width=2, channels=1).event())
        await holders[1].write_event(Describe().event())
        assert Info.is_type((await read(holders[1])).type)  # both are being served
        async with AsyncTcpClient("127.0.0.1", port) as third:
            refused = await read(third)  # a third connection is one too many
        await hang_up(holders[1])
        for _ in range(100):
            if server.connections < 2:
                break
            await asyncio.sleep(0.02)
        async with AsyncTcpClient("127.0.0.1", port) as waiting:
            await waiting.write_event(Transcribe().event())
            await waiting.write_event(AudioStart(rate=16000, width=2, channels=1).event())
            busy = await read(waiting)
        await hang_up(holders[0])
        for _ in range(100):
            if server.connections == 0:
                break
            await asyncio.sleep(0.02)
        answer = await ask(port, "how much water should I drink")
        return refused, busy, answer

    with caplog.at_level(logging.INFO, logger="voiceskill.wyoming_server"):
        refused, busy, answer = serve(coach, scenario, max_connections=2, max_asr_streams=1, asr_wait_s=0.3)
    assert refused is not None and Error.from_event(refused).code == "busy"
    assert busy is not None and Error.from_event(busy).code == "busy" and "decoders" in Error.from_event(busy).text
    assert answer is not None and Handled.is_type(answer.type)  # and nothing stays blocked
    messages = [r.getMessage() for r in caplog.records]
    assert any("refused: more than 2 connections" in m for m in messages)
    assert any("all 1 decoders are busy" in m for m in messages)


def test_malformed_and_unsupported_audio_get_an_error(coach: Coach) -> None:
    async def attempt(port: int, *events: Event) -> Error:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            for event in events:
                await client.write_event(event)
            reply = await read(client)
            assert await read(client) is None  # and the connection is closed
        assert reply is not None and Error.is_type(reply.type), reply
        return Error.from_event(reply)

    async def scenario(server: WyomingServer, port: int) -> list[Error]:
        start = AudioStart(rate=16000, width=2, channels=1).event()
        return [
            await attempt(port, Transcribe().event(), AudioStart(rate=48000, width=2, channels=6).event()),
            await attempt(port, Transcribe().event(), start, Event(type="audio-chunk", data={}, payload=b"\0\0")),
            await attempt(port, Transcribe().event(), start,  # 3 bytes of 16-bit stereo: not whole samples
                          AudioChunk(rate=16000, width=2, channels=2, audio=b"\0\0\0").event()),
            await attempt(port, Transcript(text="x" * 5000).event()),
            await attempt(port, Transcribe().event(), start, start),  # a second start inside a stream
        ]

    six, no_format, ragged, too_long, restart = serve(coach, scenario)
    assert restart.code == "bad-event" and "inside an audio stream" in restart.text
    assert six.code == "unsupported-audio" and "6 channels" in six.text
    assert no_format.code == "bad-event"
    assert ragged.code == "unsupported-audio"
    assert too_long.code == "too-long"


# -- tts --------------------------------------------------------------------------------------------


def test_tts_speaks_the_coachs_answers_only(router: Router, model: SpeechModel) -> None:
    require(shutil.which("espeak-ng"), "eSpeak NG (apt-get install espeak-ng)")
    water = router.intents.by_name("water").answer
    with build_coach(AppConfig(), router=router, model=model) as coach:

        async def scenario(server: WyomingServer, port: int) -> tuple[Info, list[Event], Event]:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                info = Info.from_event(await read(client))
                await client.write_event(Synthesize(text=water).event())
                events = [await read(client, 60)]
                while events[-1] is not None and not AudioStop.is_type(events[-1].type):
                    events.append(await read(client, 60))
                await client.write_event(Synthesize(text="transfer all my money").event())
                refused = await read(client)
            return info, events, refused

        info, events, refused = serve(coach, scenario)
    assert [t.name for t in info.tts] == ["voiceskill-voice"]
    assert AudioStart.is_type(events[0].type) and AudioStop.is_type(events[-1].type)
    chunks = [AudioChunk.from_event(e) for e in events[1:-1]]
    assert chunks and all(c.width == 2 and c.channels == 1 for c in chunks)
    assert sum(c.seconds for c in chunks) > 2.0  # a sentence of speech, not a click
    assert Error.is_type(refused.type) and Error.from_event(refused).code == "unknown-text"


# -- the command ------------------------------------------------------------------------------------


def test_command_serves_until_sigterm_and_reports_bad_uris(model: SpeechModel, tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "voiceskill", "wyoming", "--uri", "http://x"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("voiceskill: error:") and "tcp://" in bad.stderr

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = subprocess.run([sys.executable, "-m", "voiceskill", "-q", "wyoming", "--no-tts", "--uri",
                               f"tcp://127.0.0.1:{taken.getsockname()[1]}"], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1 and busy.stderr.count("\n") == 1 and "address already in use" in busy.stderr

    sock = tmp_path / "coach.sock"
    proc = subprocess.Popen([sys.executable, "-m", "voiceskill", "wyoming", "--no-tts", "--uri", f"unix://{sock}"],
                            cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        async def describe() -> Info:
            deadline = time.monotonic() + 60
            while True:
                try:
                    async with AsyncUnixClient(str(sock)) as client:
                        await client.write_event(Describe().event())
                        return Info.from_event(await read(client))
                except (FileNotFoundError, ConnectionError):
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    await asyncio.sleep(0.1)

        info = asyncio.run(describe())
        assert info.handle and info.asr and not info.tts
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "ready in" in err and "Traceback" not in err
    assert not sock.exists()  # the socket is removed on the way out
