"""``voiceskill listen`` (spoken questions in WAV files -> answers) and ``voiceskill transcribe``
(WAV files -> the words heard).

Each file is one independent question. The speech model is loaded once for the whole batch. A
bad file (missing, not audio, empty, silent) gets a one-line error on stderr (and, with
``--json``, a ``{"input", "error"}`` line on stdout); the batch goes on and the exit code is 1
at the end if any file failed.

``listen`` listens in grammar mode by default (only the router's words plus ``[unk]``);
``--open-vocab`` uses the model's full vocabulary. It hears each question through several passes
(raw, then strongly denoised: :mod:`voiceskill.passes`; the second only when the first is not
clear enough) and answers from the transcript the router is most confident about;
``--passes plain`` is a single pass. ``transcribe`` defaults to open vocabulary,
because its job is to show what was said, not what the coach can answer; ``--grammar``
restricts it to the router's words, which shows what ``listen`` hears.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from voiceskill.cliutil import add_article_options, add_config_option, app_config, pass_list
from voiceskill.errors import AudioError
from voiceskill.settings import PRESETS, AppConfig, RecognizerConfig

if TYPE_CHECKING:
    from voiceskill.recognizer import SpeechModel


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("listen", parents=[common],
                       help="answer spoken questions recorded in WAV files (one question per file)",
                       description="Answer spoken questions recorded in WAV files: each file is one "
                                   "question; prints the transcript and the coach's answer.")
    _model_options(p)
    add_article_options(p)
    p.add_argument("--open-vocab", action="store_true",
                   help="recognize any English word instead of only the words the coach knows")
    p.add_argument("--passes", type=pass_list, metavar="LIST",
                   help="comma-separated front ends each question is heard through: "
                        f"{', '.join(PRESETS)} (default: [recognizer] passes, "
                        f"{','.join(RecognizerConfig().passes)})")
    p.add_argument("--denoise", action="store_true",
                   help="clean up steady background noise before every pass (see benchmarks/denoise_bench.py)")
    p.add_argument("--session", action="store_true",
                   help="the files are one person's consecutive questions in one conversation: the "
                        "recognizer keeps adapting to the voice and \"tell me more\" goes on from file "
                        "to file, as in `voiceskill run` (default: every file is independent)")
    p.set_defaults(func=run_listen)

    t = sub.add_parser("transcribe", parents=[common], help="print the words heard in WAV files",
                       description="Print the words heard in WAV files (open vocabulary by default).")
    _model_options(t)
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--open-vocab", dest="grammar", action="store_false",
                      help="recognize any English word (default)")
    mode.add_argument("--grammar", dest="grammar", action="store_true",
                      help="only the words the coach knows plus [unk], as `listen` hears them")
    add_article_options(t, purpose="whose words --grammar listens for")
    t.set_defaults(func=run_transcribe, grammar=False)


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    p.add_argument("--model", type=Path, metavar="DIR", help="Vosk model directory (default: "
                   "$VOICESKILL_MODEL, ./models, then the user data dir)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="WAV files, one question each")
    add_config_option(p)


def _settings(args: argparse.Namespace) -> AppConfig:
    """File, environment and flags, as ``voiceskill run`` loads them."""
    return app_config(args, {"general.model": args.model, "general.article": args.article,
                             "recognizer.passes": getattr(args, "passes", None),
                             "denoise.enabled": True if getattr(args, "denoise", False) else None})


def _load_model(args: argparse.Namespace, settings: AppConfig) -> SpeechModel:
    from voiceskill.app import open_model

    return open_model(settings, debug=getattr(args, "debug", False))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _batch(args: argparse.Namespace, handle: Callable[[Path], dict[str, object]],
           show: Callable[[dict[str, object]], str]) -> int:
    """Run ``handle`` on every file; report bad files and go on. Returns the exit code."""
    failed = 0
    for path in args.files:
        try:
            result = handle(path)
        except AudioError as exc:
            failed += 1
            print(f"voiceskill: error: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"input": str(path), "error": str(exc)}), flush=True)
            continue
        print(json.dumps(result) if args.json else show(result), flush=True)
    return 1 if failed else 0


def run_listen(args: argparse.Namespace) -> int:
    from voiceskill.app import file_passes, load_router
    from voiceskill.decide import decide_file
    from voiceskill.denoise import Denoiser
    from voiceskill.dialog import Dialog
    from voiceskill.wavio import read_wav

    settings = _settings(args)
    router = load_router(settings, args.intents)
    config = dataclasses.replace(settings.recognizer, grammar=not args.open_vocab)
    decision = settings.decision
    denoise = Denoiser(settings.denoise) if settings.denoise.enabled else None
    didnt_catch = settings.loop.didnt_catch
    dialog = Dialog(router)
    with _load_model(args, settings) as model:
        passes = file_passes(model, config, router)

        def handle(path: Path) -> dict[str, object]:
            t0 = time.perf_counter()
            pcm = read_wav(path)
            if denoise is not None:
                pcm = denoise.process_file(pcm)
            t1 = time.perf_counter()
            chosen = decide_file(pcm, passes, router, config, decision, keep_speaker=args.session)
            t2 = time.perf_counter()
            heard = chosen.heard.transcript if chosen.heard else None
            text = heard.text if heard else ""
            if not args.session:
                dialog.reset()  # independent files: no conversation carries over
            if chosen.caught and heard is not None and chosen.reply is not None:
                reply = dialog.respond(chosen.reply)
                intent, answer, conf = reply.intent, reply.answer, reply.confidence
            else:  # nothing heard (noise, mumbling), or not sure enough: what the coach says live
                intent, answer = None, didnt_catch
                conf = chosen.reply.confidence if chosen.reply is not None else 0.0
            t3 = time.perf_counter()
            return {"input": str(path), "transcript": text, "intent": intent, "answer": answer,
                    "confidence": round(conf, 3), "caught": chosen.caught,
                    "pass": chosen.heard.name if chosen.heard else None,
                    "timings_ms": {"read": _ms(t1 - t0), "recognize": _ms(t2 - t1), "route": _ms(t3 - t2)}}

        def show(r: dict[str, object]) -> str:
            return f"{r['input']}: heard \"{r['transcript']}\" -> {r['intent'] or 'no intent'}\n  {r['answer']}"

        return _batch(args, handle, show)


def run_transcribe(args: argparse.Namespace) -> int:
    from voiceskill.app import load_router, question_vocabulary
    from voiceskill.recognizer import Transcript, recognize_pcm
    from voiceskill.wavio import read_wav

    settings = _settings(args)
    config = dataclasses.replace(settings.recognizer, grammar=args.grammar)
    vocabulary = question_vocabulary(config, load_router(settings, args.intents)) if args.grammar else None
    with _load_model(args, settings) as model:

        def handle(path: Path) -> dict[str, object]:
            pcm = read_wav(path)
            # a fresh session per file: Vosk's clock runs on across Reset(), so word times
            # would carry over from the previous file
            with model.recognizer(config, vocabulary) as rec:
                heard: Transcript = recognize_pcm(rec, pcm, config.file_chunk_ms, config.rate_hz)
            return {"input": str(path), **heard.as_dict()}

        def show(r: dict[str, object]) -> str:
            return f"{r['input']}: {r['transcript']}"

        return _batch(args, handle, show)
