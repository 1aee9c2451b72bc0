"""``voiceskill run``: the voice coach itself (microphone in, answers out, no screen needed)."""

from __future__ import annotations

import argparse
import logging
import signal
import time
from pathlib import Path

from voiceskill.cliutil import add_article_options, add_config_option, app_config
from voiceskill.settings import AppConfig

log = logging.getLogger(__name__)

# flags whose name is not --KEY (for messages and `config show` provenance)
_FLAGS = {"general.model": "--model", "general.article": "--article", "trigger.kind": "--trigger",
          "trigger.evdev_keys": "--key", "wake.phrase": "--wake-phrase", "audio.device": "--input-device",
          "speaker.device": "--output-device", "loop.earcons": "--no-earcons"}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common], help="the voice coach: listen on the microphone, answer aloud",
                       description="Listen on the microphone and answer questions aloud. A question "
                                   "starts with the trigger (Enter or space in the terminal, a held key, "
                                   "a GPIO button, or the wake phrase) and ends on key release or when "
                                   "you stop talking. Settings come from flags, VOICESKILL_* environment "
                                   "variables and the config file (`voiceskill config show`).")
    add_config_option(p)
    p.add_argument("--model", metavar="DIR", help="Vosk model directory")
    add_article_options(p)
    p.add_argument("--trigger", choices=("terminal", "evdev", "gpio", "wake"),
                   help="what starts a question (default from config: terminal)")
    p.add_argument("--key", metavar="KEY_NAME[,KEY_NAME]", help="evdev key(s), e.g. KEY_PLAYPAUSE")
    p.add_argument("--input-device", metavar="NAME|INDEX", help="microphone (see `voiceskill devices`)")
    p.add_argument("--output-device", metavar="NAME|INDEX", help="speaker (see `voiceskill devices`)")
    p.add_argument("--wake-phrase", metavar="PHRASE", help='hands-free wake phrase (default "hey coach")')
    p.add_argument("--speak-to", type=Path, metavar="FILE.wav", help="write answers to a WAV file instead of playing")
    p.add_argument("--record-dir", type=Path, metavar="DIR",
                   help="save each question's audio and transcript here (never done otherwise)")
    p.add_argument("--no-earcons", action="store_true", help="no start/stop tones")
    p.add_argument("--max-turns", type=int, metavar="N", help="stop after N questions (for scripts and tests)")
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        "general.model": args.model, "general.article": args.article, "general.record_dir": args.record_dir,
        "trigger.kind": args.trigger, "trigger.evdev_keys": args.key, "wake.phrase": args.wake_phrase,
        "audio.device": args.input_device, "speaker.device": args.output_device,
        "loop.earcons": False if args.no_earcons else None,
    }


class _StopDuringStartUp(BaseException):
    """SIGTERM/SIGINT/SIGHUP before the loop runs: unwinds start-up through every ``finally``
    and context manager (a BaseException, so no ``except Exception`` on the way swallows it)."""


def _stop_start_up(signum: int, frame: object) -> None:
    raise _StopDuringStartUp(signum)


def _check_outputs(config: AppConfig, speak_to: Path | None) -> None:
    """Every place the coach will write, checked before the slow start-up: one line each."""
    from voiceskill.errors import ConfigError
    from voiceskill.files import writable_dir_problem
    from voiceskill.speaker import WavFileSpeaker, check_cache_dir

    record_dir = config.general.record_dir
    if record_dir is not None:
        problem = writable_dir_problem(Path(record_dir))
        if problem:
            raise ConfigError(f"the record dir {record_dir} cannot be written ({problem}); "
                              f"choose another --record-dir (general.record_dir)")
    check_cache_dir(config.speaker)
    if speak_to is not None:
        WavFileSpeaker.check_target(speak_to)


def run(args: argparse.Namespace) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _stop_start_up)
    try:
        return _run(args)
    except _StopDuringStartUp as stop:
        log.info("stopped during start-up (%s)", signal.Signals(stop.args[0]).name)
        return 0


def _run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    overrides = _overrides(args)
    config = app_config(args, overrides, flags=_FLAGS)
    _check_outputs(config, args.speak_to)
    from voiceskill.app import build_pipeline
    from voiceskill.audio import Microphone

    with build_pipeline(config, intents=args.intents, speak_to=args.speak_to,
                        debug=getattr(args, "debug", False)) as app:
        orchestrator = app.orchestrator
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: orchestrator.request_stop())
        log.info("ready in %.0f ms (model %s, trigger %s, article %s)", (time.monotonic() - started) * 1000,
                 app.model.path.name, config.trigger.kind, app.router.article.source)
        problem = app.source.problem if isinstance(app.source, Microphone) else None
        if problem:
            log.warning("the microphone is not available yet (%s): presses get a low tone and wait for "
                        "it; `voiceskill doctor` checks the audio set-up", problem)
        turns = orchestrator.run(max_turns=args.max_turns)
        log.info("stopped after %d turns", turns)
    return 0
