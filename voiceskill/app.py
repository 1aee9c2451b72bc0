"""One place that builds the app from its settings: the router, the speech model, the recognizer
passes, the stop spotter, the trigger, the microphone, the speaker and the loop.

``voiceskill run``, ``voiceskill listen``, ``voiceskill wyoming``, the benchmarks and the end-to-end
tests all build their pieces here, so what they measure is what the coach runs. Every piece can be
handed in instead (a benchmark's own microphone, speaker or trigger); what is built here is also
closed here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voiceskill import heap
from voiceskill.grammar import grammar_vocabulary
from voiceskill.orchestrator import Orchestrator, Turn, utterance_words
from voiceskill.passes import MultiPassRecognizer, open_passes
from voiceskill.recognizer import Recognizer, SpeechModel, VoskRecognizer
from voiceskill.router import Router
from voiceskill.settings import AppConfig, LoopConfig, RecognizerConfig
from voiceskill.trigger import Trigger

if TYPE_CHECKING:
    from voiceskill.audio import AudioSource
    from voiceskill.speaker import Speaker
    from voiceskill.wyoming_server import Coach

log = logging.getLogger(__name__)

STOP_SPOTTER_FILLERS = frozenset({"the", "a", "i", "you"})
"""Common words in the stop spotter's grammar besides the stop words, so other speech heard while
an answer plays has somewhere to land instead of on a stop word."""


def load_router(config: AppConfig, intents: str | Path | None = None) -> Router:
    """The router over ``general.article`` (and ``intents``, else the article's own) with ``[router]``."""
    return Router.load(config.general.article, intents, config.router)


def open_model(config: AppConfig, *, debug: bool = False) -> SpeechModel:
    """The speech model of ``general.model`` (else the installed one)."""
    from voiceskill.models import resolve_model_dir

    return SpeechModel(resolve_model_dir(config.general.model), debug=debug, checked=True)


def question_vocabulary(config: RecognizerConfig, router: Router) -> set[str] | None:
    """What the question recognizer listens for: the router's grammar, or None in open vocabulary."""
    return grammar_vocabulary(router) if config.grammar else None


def open_ear(model: SpeechModel, config: RecognizerConfig, router: Router) -> MultiPassRecognizer:
    """The live recognizer: every pass of ``config.passes`` streaming over one model."""
    return open_passes(model, config, question_vocabulary(config, router))


def file_passes(model: SpeechModel, config: RecognizerConfig,
                router: Router) -> list[tuple[str, Recognizer]]:
    """The passes a file is heard through (:func:`voiceskill.decide.decide_file`): one recognizer
    session per pass of ``config.passes``; each pass cleans the whole file itself."""
    vocabulary = question_vocabulary(config, router)
    return [(name, model.recognizer(config, vocabulary)) for name in config.passes]


def open_stop_spotter(model: SpeechModel, loop: LoopConfig) -> VoskRecognizer:
    """The small recognizer that listens for ``loop.stop_words`` while an answer plays."""
    return model.recognizer(RecognizerConfig(grammar=True), utterance_words(loop.stop_words) | STOP_SPOTTER_FILLERS)


@dataclass
class Pipeline:
    """The built app: every stage, and the loop that runs them."""

    router: Router
    model: SpeechModel
    trigger: Trigger
    speaker: Speaker
    recognizer: MultiPassRecognizer
    source: AudioSource
    orchestrator: Orchestrator


@contextlib.contextmanager
def build_pipeline(config: AppConfig, *, router: Router | None = None, intents: str | Path | None = None,
                   model: SpeechModel | None = None, trigger: Trigger | None = None,
                   speaker: Speaker | None = None, speak_to: Path | None = None,
                   source: AudioSource | None = None, on_turn: Callable[[Turn], None] | None = None,
                   prepare: Sequence[str] = (), debug: bool = False) -> Iterator[Pipeline]:
    """Build the coach as ``voiceskill run`` runs it; everything built here is closed on exit.

    router, model, trigger, speaker, source: built from ``config`` unless given (a given one is
    not closed here). speak_to: write answers to this WAV file instead of playing them. prepare:
    texts the speaker synthesizes ahead besides the answers. Devices that are not there are found
    before the slow work (loading the model).
    """
    from voiceskill.audio import Microphone, find_device
    from voiceskill.denoise import Denoiser
    from voiceskill.dialog import Dialog
    from voiceskill.endpoint import Endpointer

    heap.limit_arenas()  # before the microphone's, speaker's and loop's threads

    loop = config.loop
    if router is None:
        router = load_router(config, intents)
    model_dir = None
    if model is None:
        from voiceskill.models import resolve_model_dir

        model_dir = resolve_model_dir(config.general.model)
    # fail fast, before the slow start-up work, on devices that are not there
    if source is None:
        find_device(config.audio.device, "input")
    if speaker is None and speak_to is None:
        find_device(config.speaker.device, "output")
    with contextlib.ExitStack() as stack:
        if model is None:
            assert model_dir is not None
            model = stack.enter_context(SpeechModel(model_dir, debug=debug, checked=True))  # resolve checked it
        if trigger is None:
            from voiceskill.trigger import make_trigger

            trigger = stack.enter_context(make_trigger(config.trigger, model=model, wake_config=config.wake))
        if speaker is None:
            from voiceskill.speaker import DeviceSpeaker, WavFileSpeaker

            built: Any = WavFileSpeaker(speak_to, config.speaker) if speak_to is not None \
                else DeviceSpeaker(config.speaker)
            speaker = stack.enter_context(built)
            built.prepare([*router.answers(), loop.didnt_catch, *prepare])
        recognizer = stack.enter_context(open_ear(model, config.recognizer, router))
        stop_spotter = stack.enter_context(open_stop_spotter(model, loop))
        if source is None:
            mic = stack.enter_context(Microphone(config.audio))
            mic.drain()
            source = mic
        denoiser = Denoiser(config.denoise) if config.denoise.enabled else None
        orchestrator = Orchestrator(source=source, trigger=trigger, recognizer=recognizer,
                                    endpointer=Endpointer(config.endpoint), dialog=Dialog(router),
                                    speaker=speaker, stop_spotter=stop_spotter, denoiser=denoiser,
                                    config=loop, record_dir=config.general.record_dir,
                                    decision=config.decision, on_turn=on_turn,
                                    session_idle_s=config.recognizer.session_idle_s,
                                    release_memory=heap.release)
        yield Pipeline(router, model, trigger, speaker, recognizer, source, orchestrator)


@contextlib.contextmanager
def build_coach(config: AppConfig, *, router: Router | None = None, intents: str | Path | None = None,
                model: SpeechModel | None = None, tts: bool = True, debug: bool = False) -> Iterator[Coach]:
    """Build what ``voiceskill wyoming`` serves (router, model, optional synthesizer); closed on exit."""
    from voiceskill.wyoming_server import Coach

    heap.limit_arenas()  # before the server's decoder and voice thread pools
    if router is None:
        router = load_router(config, intents)
    with contextlib.ExitStack() as stack:
        if model is None:
            model = stack.enter_context(open_model(config, debug=debug))
        synthesizer: Any = None
        if tts:
            from voiceskill.speaker import Synthesizer

            synthesizer = stack.enter_context(Synthesizer(config.speaker))
        coach = Coach(router, model, config.recognizer, question_vocabulary(config.recognizer, router), synthesizer,
                      config.speaker.voice, config.decision)
        coach.open_ear().close()  # builds the grammar once (and fails here, not on the first request)
        yield coach
