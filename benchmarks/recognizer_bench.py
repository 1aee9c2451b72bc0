#!/usr/bin/env python3
"""Recognizer + router on spoken questions: right-topic accuracy per SNR and grammar mode,
off-topic answers, real-time factor on one core, model load time, peak RSS of `voiceskill listen`.

Usage: python3 benchmarks/recognizer_bench.py [--questions TSV] [--rotations 9] [--snrs 20,10,5,0]
                                              [--modes open,words,phrasings] [--jobs 2] [--dump FILE]

* Audio: shared/eval/render_audio.py renders the questions once per rotation of the 9 voices
  (``--rotations 9``: every question in every voice), clean plus each SNR, cached under
  ``~/.cache/voiceskill/test-audio`` (tests/audio_fixtures.py).
* Accuracy: the pipeline of ``voiceskill listen`` in-process (read_wav -> VoskRecognizer ->
  Router.route), model loaded once per worker; ``--jobs`` workers split the files. Modes:
  ``open`` = open vocabulary; ``words`` = grammar of router.vocabulary() (+ [unk]) only;
  ``frames`` = what ``listen`` uses: the words plus question frames (RecognizerConfig
  .question_frames) plus the router's phrasings when it offers them (listen.grammar_vocabulary),
  heard in the passes of RecognizerConfig.passes (plain, then strong; voiceskill.passes) with
  the router keeping the transcript it is most confident about; ``frames1`` = the same grammar in
  one plain pass (what ``listen --passes plain`` does); ``frames:plain+voice`` = frames heard in
  the passes named after the colon; ``examples`` = frames1 plus the example
  phrasings of the built-in intents files. ``open``, ``words`` and ``examples`` are one plain pass.
  A question is right when the answer matches its topic's regex in shared/eval/topics.tsv; an
  off-topic ("fallback") question is right when no intent is chosen and no article fact spoken.
* Every miss goes to ``--dump`` (TSV: mode, snr, voice, file, expected topic, question, transcript,
  got intent, cause). cause = "routing" when the transcript kept at least 3/4 of the question's
  content words (the router had what it needed), else "recognition".
* Real-time factor: the script re-runs itself pinned to CPU 0 (``taskset -c 0``) and times
  recognition of 60 files per mode (wall time / audio duration); the same run gives the model
  load time (median of 3 loads).
* Peak RSS: a ``voiceskill listen --json`` subprocess on 60 files; its maximum resident set size
  from ``resource.getrusage(RUSAGE_CHILDREN)`` in a fresh wrapper process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from audio_fixtures import (FALLBACK, QUESTIONS, AudioRow, answer_ok, cache_root,  # noqa: E402
                            load_topics, render_questions)
from voiceskill.commands.listen import grammar_vocabulary  # noqa: E402
from voiceskill.models import resolve_model_dir  # noqa: E402
from voiceskill.passes import hear_file_best, router_confidence  # noqa: E402
from voiceskill.recognizer import RecognizerConfig, SpeechModel, Transcript  # noqa: E402
from voiceskill.router import Router  # noqa: E402
from voiceskill.wavio import read_wav  # noqa: E402

MODES = ("open", "words", "frames1", "frames", "examples")
SNR_ORDER = ("clean", "20", "10", "5", "0")
STOP = set("a an the of to in on for about with is are am i my me you your it do does did can could "
           "should would what why how when which who be have has get".split())


def intent_examples() -> list[str]:
    """The example phrasings of the built-in intents files (what a router.phrasings() would give)."""
    out: list[str] = []

    def walk(x: object) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                out.extend(v) if k == "examples" else walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for f in sorted((REPO / "voiceskill" / "data").glob("*.intents.toml")):
        walk(tomllib.loads(f.read_text()))
    return out


def config_for(mode: str) -> RecognizerConfig:
    """``frames:plain+voice`` = the frames grammar heard in the passes named after the colon."""
    mode, _, named = mode.partition(":")
    passes = tuple(named.split("+")) if named else RecognizerConfig().passes if mode == "frames" else ("plain",)
    return RecognizerConfig(grammar=mode != "open", question_frames=mode != "words", passes=passes)


def hear(router: Router, passes: list[tuple[str, object]], pcm: bytes) -> Transcript:
    """What ``listen`` does with one file: every pass, then the transcript the router likes best."""
    return hear_file_best(pcm, passes, RecognizerConfig(), router_confidence(router)).transcript  # type: ignore[arg-type]


def vocabulary_for(mode: str, router: Router) -> set[str] | None:
    mode = mode.partition(":")[0]
    if mode == "open":
        return None
    if mode == "examples":
        return grammar_vocabulary(router) | set(intent_examples())
    return grammar_vocabulary(router)


def passes_for(mode: str, model: SpeechModel, router: Router) -> list[tuple[str, object]]:
    config = config_for(mode)
    vocabulary = vocabulary_for(mode, router)
    return [(name, model.recognizer(config, vocabulary)) for name in config.passes]


def _work(args: tuple[list[tuple[str, str, str, str, str]], tuple[str, ...]]) -> list[dict[str, object]]:
    """One worker: load model + router once, run every (file, mode)."""
    rows, modes = args
    router = Router.load()
    topics = load_topics()
    out = []
    with SpeechModel(resolve_model_dir()) as model:
        recs = {m: passes_for(m, model, router) for m in modes}
        for path, topic, question, voice, snr in rows:
            pcm = read_wav(path)
            for mode, passes in recs.items():
                heard = hear(router, passes, pcm)
                reply = router.route(heard.text, heard.confidences)
                out.append({"mode": mode, "file": path, "topic": topic, "question": question,
                            "voice": voice, "snr": snr, "transcript": heard.text, "intent": reply.intent,
                            "ok": answer_ok(topic, reply.intent, reply.answer, topics),
                            "fact": topic == FALLBACK and reply.intent is not None})
    return out


def cause(question: str, transcript: str) -> str:
    content = [w for w in question.split() if w not in STOP]
    heard = set(transcript.split())
    kept = sum(w in heard for w in content)
    return "routing" if content and kept * 4 >= len(content) * 3 else "recognition"


def accuracy(rows: list[AudioRow], modes: tuple[str, ...], jobs: int) -> list[dict[str, object]]:
    plain = [(str(r.path), r.topic, r.question, r.voice, r.snr) for r in rows]
    parts = [(plain[i::jobs], modes) for i in range(jobs)]
    with ProcessPoolExecutor(jobs) as pool:
        return [r for part in pool.map(_work, parts) for r in part]


def rtf_pinned(files: list[str], modes: tuple[str, ...]) -> dict[str, float]:
    """Run in a process pinned to one CPU: load times and real-time factors."""
    loads = []
    for _ in range(3):
        with SpeechModel(resolve_model_dir()) as model:
            loads.append(model.load_s)
    router = Router.load()
    result: dict[str, float] = {"load_s": statistics.median(loads)}
    pcms = [read_wav(f) for f in files]
    audio_s = sum(len(p) for p in pcms) / 2 / 16000
    with SpeechModel(resolve_model_dir()) as model:
        for mode in modes:
            passes = passes_for(mode, model, router)
            start = time.perf_counter()
            for pcm in pcms:
                hear(router, passes, pcm)
            result[f"rtf_{mode}"] = (time.perf_counter() - start) / audio_s
    return result


def peak_rss_mb(files: list[str]) -> tuple[float, int]:
    """Peak RSS (MB) of `voiceskill listen --json FILES` and its exit code, in a fresh wrapper."""
    wrapper = ("import resource, subprocess, sys\n"
               "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)\n")
    done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "voiceskill", "-q",
                           "listen", "--json", *files], cwd=REPO, capture_output=True, text=True, check=True)
    kb, rc = done.stdout.split()
    return int(kb) / 1024, int(rc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=Path, default=QUESTIONS)
    ap.add_argument("--rotations", type=int, default=9, help="voices per question (9 = all)")
    ap.add_argument("--snrs", default="20,10,5,0")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--dump", type=Path, default=cache_root().parent / "bench" / "recognizer-misses.tsv")
    ap.add_argument("--skip-speed", action="store_true", help="accuracy only")
    ap.add_argument("--rtf-only", nargs="*", help=argparse.SUPPRESS)  # internal: pinned child
    args = ap.parse_args()
    modes = tuple(m for m in args.modes.split(",") if m)

    if args.rtf_only is not None:
        print(json.dumps(rtf_pinned(args.rtf_only, modes)))
        return 0

    rows = render_questions(args.questions, rotations=args.rotations,
                            snrs=tuple(s for s in args.snrs.split(",") if s))
    print(f"{len(rows)} files: {args.rotations} voice(s) per question, {args.questions}", flush=True)
    start = time.perf_counter()
    results = accuracy(rows, modes, max(1, args.jobs))
    print(f"accuracy run: {time.perf_counter() - start:.0f} s with {args.jobs} worker(s)\n")

    table: dict[tuple[str, str], list[bool]] = defaultdict(list)
    facts: dict[tuple[str, str], list[bool]] = defaultdict(list)
    causes: dict[tuple[str, str], int] = defaultdict(int)
    args.dump.parent.mkdir(parents=True, exist_ok=True)
    with args.dump.open("w") as dump:
        dump.write("mode\tsnr\tvoice\tfile\texpected\tquestion\ttranscript\tgot\tcause\n")
        for r in results:
            key = (str(r["mode"]), str(r["snr"]))
            if r["topic"] == FALLBACK:
                facts[key].append(bool(r["fact"]))
            else:
                table[key].append(bool(r["ok"]))
            if not r["ok"]:
                c = cause(str(r["question"]), str(r["transcript"]))
                causes[(str(r["mode"]), c)] += 1
                dump.write("\t".join(str(r[k]) for k in ("mode", "snr", "voice", "file", "topic", "question",
                                                          "transcript", "intent")) + f"\t{c}\n")
    snrs = [s for s in SNR_ORDER if any(k[1] == s for k in table)]
    print("right-topic share (on-topic questions)   " + "".join(f"{m:>12}" for m in modes))
    for s in snrs:
        cells = []
        for m in modes:
            v = table[(m, s)]
            cells.append(f"{100 * sum(v) / len(v):7.1f}% {len(v):3d}" if v else f"{'-':>12}")
        print(f"  {s + (' dB' if s != 'clean' else ''):<39}" + "".join(f"{c:>12}" for c in cells))
    print("off-topic answered with an article fact  " + "".join(f"{m:>12}" for m in modes))
    for s in snrs:
        cells = [f"{sum(facts[(m, s)])}/{len(facts[(m, s)])}" for m in modes]
        print(f"  {s + (' dB' if s != 'clean' else ''):<39}" + "".join(f"{c:>12}" for c in cells))
    print("misses by cause (all SNRs)               " + "".join(f"{m:>12}" for m in modes))
    for c in ("recognition", "routing"):
        print(f"  {c:<39}" + "".join(f"{causes[(m, c)]:>12}" for m in modes))
    print(f"misses: {args.dump}\n")

    if args.skip_speed:
        return 0
    sample = [str(r.path) for r in rows if r.snr in ("clean", "10")][:60]
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    if not pin:
        print("taskset not found: speed measured unpinned")
    done = subprocess.run([*pin, sys.executable, __file__, "--modes", args.modes, "--rtf-only", *sample],
                          capture_output=True, text=True, check=True)
    speed = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"model load (median of 3, one core): {speed['load_s']:.2f} s")
    for m in modes:
        print(f"real-time factor, one core, {m:<10}: {speed[f'rtf_{m}']:.3f}")
    rss, rc = peak_rss_mb(sample)
    print(f"peak RSS of `voiceskill listen --json` on {len(sample)} files: {rss:.0f} MB (exit {rc})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
