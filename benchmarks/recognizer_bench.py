#!/usr/bin/env python3
"""Spoken questions through recognizer passes, the decision step and the router: right topic,
wrong topic, didn't catch, off-topic answered, per noise, SNR and mode; a PNG of right and wrong
topic against SNR; real-time factor on one core, model load time, peak RSS of `voiceskill listen`.

Usage: python3 benchmarks/recognizer_bench.py [--questions TSV[,TSV]] [--noise gym,music]
           [--snrs clean,10,5] [--passes plain+strong] [--sessions on,off] [--rotations 1]
           [--jobs 2] [--png FILE] [--skip-speed] [--reuse]

* Audio: shared/eval/render_audio.py renders the questions (each question one voice, voices
  rotating; ``--rotations N`` renders every question in N voices), clean plus each SNR, in
  ``--noise gym`` (chatter, beat, pink noise) and/or ``music`` (a gym's music and floor, no talk),
  cached under ~/.cache/voiceskill/test-audio (tests/audio_fixtures.py).
* Sessions: the files of one voice, noise and SNR are one person's questions, in order. Mode
  ``session`` hears them as ``voiceskill listen --session`` does (speaker adaptation carried from
  file to file, every pass every file); ``files`` as independent files (``voiceskill listen``:
  each file starts fresh, later passes only while the first is unclear).
* Every pass's hypothesis (words with confidences) is stored in a cache keyed by the audio, the
  passes, the grammar and the recognizer code (and the model's decoder options when
  ``VOICESKILL_MODEL`` names the model); ``--reuse`` answers again from the stored
  hypotheses (router or decision changes in seconds, no recognition).
* Judging: the spoken answer must match the topic's regex (shared/eval/topics.tsv). An on-topic
  question is *right*, *wrong* (another article answer) or *missed* (didn't catch that, or the
  off-topic reply); an off-topic question is *answered* when an article fact is spoken.
  Misses go to ``--dump``.
* Speed: the script re-runs itself pinned to CPU 0 (``taskset -c 0``) on 60 files: real-time factor
  of every pass streamed as the live loop does (wall time / audio time) and the model load time.
  Peak RSS: a ``voiceskill listen --json`` subprocess on the same files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from audio_fixtures import QUESTIONS, AudioRow, cache_root, render_questions  # noqa: E402
from evalsets import FALLBACK, judge, states_a_fact, with_settings  # noqa: E402

from voiceskill.decide import decide, settled  # noqa: E402
from voiceskill.settings import DecisionConfig  # noqa: E402
from voiceskill.app import file_passes, open_ear, question_vocabulary  # noqa: E402
from voiceskill.models import ENV_VAR, resolve_model_dir  # noqa: E402
from voiceskill.passes import Heard, hear_file  # noqa: E402
from voiceskill.recognizer import SpeechModel, Transcript, Word  # noqa: E402
from voiceskill.router import Router  # noqa: E402
from voiceskill.settings import PRESETS, RecognizerConfig, RouterConfig  # noqa: E402
from voiceskill.wavio import read_wav  # noqa: E402

SNR_ORDER = ("clean", "20", "15", "10", "5", "0")
BENCH = cache_root().parent / "bench"


def question_set(paths: list[Path]) -> Path:
    """One TSV of all questions (content-addressed, so its rendering is cached)."""
    lines = [line for p in paths for line in p.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    text = "\n".join(lines) + "\n"
    out = BENCH / f"questions-{hashlib.sha256(text.encode()).hexdigest()[:12]}.tsv"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return out


def _code_key() -> str:
    """What the hypotheses depend on: the recognizer's code and the grammar it listens for (not
    cue weights or answers, so routing changes re-judge stored hypotheses)."""
    h = hashlib.sha256()
    for name in ("recognizer.py", "denoise.py", "passes.py", "wavio.py", "pcm.py"):
        h.update((REPO / "voiceskill" / name).read_bytes())
    h.update(repr((RecognizerConfig(), PRESETS)).encode())  # their settings (voiceskill/settings.py)
    h.update("\n".join(sorted(question_vocabulary(RecognizerConfig(), Router.load()) or ())).encode())
    if os.environ.get(ENV_VAR, "").strip():  # another model, or a copy with other decoder options
        model = resolve_model_dir()
        h.update(str(model.resolve()).encode() + (model / "conf" / "model.conf").read_bytes())
    return h.hexdigest()[:12]


def _transcript_json(t: Transcript) -> list[object]:
    return [[w.text, round(w.conf, 4), round(w.start_s, 3), round(w.end_s, 3)] for w in t.words] or [t.text]


def _transcript_from(data: list[object]) -> Transcript:
    if data and isinstance(data[0], str):
        return Transcript(str(data[0]), (), True)
    words = tuple(Word(str(w[0]), float(w[1]), float(w[2]), float(w[3])) for w in data)  # type: ignore[index]
    return Transcript(" ".join(w.text for w in words), words, True)


def _hear_group(args: tuple[list[tuple[str, str]], tuple[str, ...], bool]) -> list[dict[str, object]]:
    """One person's files, in order, through every pass: [{file, pass, words}]."""
    files, passes, session = args
    router = Router.load()
    config = RecognizerConfig(passes=passes)
    out: list[dict[str, object]] = []
    with SpeechModel(resolve_model_dir()) as model:
        recognizers = file_passes(model, config, router)  # as `voiceskill listen` hears files
        for path, _ in files:
            pcm = read_wav(path)
            heard = hear_file(pcm, recognizers, rate_hz=config.rate_hz, chunk_ms=config.file_chunk_ms,
                              keep_speaker=session)
            for h in heard:
                out.append({"file": path, "pass": h.name, "words": _transcript_json(h.transcript)})
            if not session:
                for _, rec in recognizers:
                    rec.forget_speaker()
    return out


def hypotheses(rows: list[AudioRow], passes: tuple[str, ...], session: bool, jobs: int,
               reuse: bool) -> dict[str, list[Heard]]:
    """file -> every pass's hypothesis (from the cache with --reuse when it has them)."""
    key = hashlib.sha256(json.dumps([sorted(str(r.path) for r in rows), passes, session, _code_key()])
                         .encode()).hexdigest()[:16]
    store = BENCH / f"hypotheses-{key}.jsonl"
    if not (reuse and store.exists()):
        groups: dict[tuple[str, str, str], list[tuple[str, str]]] = defaultdict(list)
        for r in rows:  # one person = one voice at one noise and SNR, questions in order
            groups[(r.voice, r.snr, str(r.path.parent))].append((str(r.path), r.question))
        work = [(files, passes, session) for files in groups.values()]
        with ProcessPoolExecutor(max(1, jobs)) as pool:
            results = [h for part in pool.map(_hear_group, work) for h in part]
        tmp = store.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(h) + "\n" for h in results))
        tmp.replace(store)
    out: dict[str, list[Heard]] = defaultdict(list)
    for line in store.read_text().splitlines():
        h = json.loads(line)
        out[h["file"]].append(Heard(h["pass"], _transcript_from(h["words"])))
    return out


def judge_all(rows: list[AudioRow], heard: dict[str, list[Heard]], router: Router, session: bool,
              config: RecognizerConfig, decision: DecisionConfig) -> list[dict[str, object]]:
    out = []
    for r in rows:
        hyps = heard[str(r.path)]
        if not session:  # `listen` without --session: later passes only until the answer is settled
            kept: list[Heard] = []
            for h in hyps:
                kept.append(h)
                if settled(kept, router, decision, config.more_passes_below):
                    break
            hyps = kept
        d = decide(hyps, router, decision)
        intent = d.reply.intent if d.caught and d.reply is not None else None
        answer = d.reply.answer if d.caught and d.reply is not None else ""
        ok = judge(r.topic, intent, answer)
        if r.topic == FALLBACK:
            kind = "answered" if intent is not None and states_a_fact(answer) else "right"
        else:
            kind = "right" if ok else ("missed" if intent is None or not answer else "wrong")
        out.append({"row": r, "kind": kind, "transcript": d.heard.transcript.text if d.heard else "",
                    "intent": intent, "caught": d.caught})
    return out


def snr_label(s: str) -> str:
    return s if s == "clean" else f"{s} dB"


def plot(png: Path, series: dict[tuple[str, str], dict[str, tuple[float, float]]]) -> None:
    """Right and wrong topic (%) against SNR, one line per (noise, mode); clean audio is the same
    for every noise, so each line starts from it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    order = [s for s in SNR_ORDER if any(s in points for points in series.values())]
    for (noise, mode), points in sorted(series.items()):
        clean = next((p["clean"] for (_, m), p in series.items() if m == mode and "clean" in p), None)
        points = {**({"clean": clean} if clean else {}), **points}
        snrs = [s for s in order if s in points]
        xs = [order.index(s) for s in snrs]
        style = "-" if mode == "session" else "--"
        ax1.plot(xs, [points[s][0] for s in snrs], style, marker="o", label=f"{noise}, {mode}")
        ax2.plot(xs, [points[s][1] for s in snrs], style, marker="o", label=f"{noise}, {mode}")
    for ax, title in ((ax1, "right topic (%)"), (ax2, "wrong topic (%)")):
        ax.set_title(title)
        ax.set_xticks(range(len(order)), [snr_label(s) for s in order])
        ax.set_xlabel("speech to noise")
        ax.grid(alpha=0.3)
    ax1.set_ylim(0, 100)
    ax2.set_ylim(0, max(10.0, ax2.get_ylim()[1]))
    ax2.axhline(3.0, color="grey", linestyle=":", linewidth=1)
    ax1.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    tmp = png.with_name(png.stem + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    tmp.replace(png)


def rtf_pinned(files: list[str], passes: tuple[str, ...]) -> dict[str, float]:
    """In a process pinned to one CPU: model load time and the real-time factor of streaming every
    pass (each chunk through every front end and recognizer, as the live loop does)."""
    loads = []
    for _ in range(3):
        with SpeechModel(resolve_model_dir()) as model:
            loads.append(model.load_s)
    router = Router.load()
    config = RecognizerConfig(passes=passes)
    pcms = [read_wav(f) for f in files]
    audio_s = sum(len(p) for p in pcms) / 2 / config.rate_hz
    step = 2 * config.rate_hz * 20 // 1000  # 20 ms chunks, as the microphone gives them
    with SpeechModel(resolve_model_dir()) as model, open_ear(model, config, router) as rec:
        start = time.perf_counter()
        for pcm in pcms:
            rec.reset()
            for i in range(0, len(pcm), step):
                rec.accept(pcm[i:i + step])
            decide(rec.hear(keep_speaker=True), router, DecisionConfig())
        rtf = (time.perf_counter() - start) / audio_s
    return {"load_s": statistics.median(loads), "rtf": rtf}


def peak_rss_mb(files: list[str]) -> tuple[float, int]:
    """Peak RSS (MB) of `voiceskill listen --json FILES` and its exit code, in a fresh wrapper."""
    wrapper = ("import resource, subprocess, sys\n"
               "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)\n")
    done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "voiceskill", "-q",
                           "listen", "--session", "--json", *files], cwd=REPO, capture_output=True, text=True,
                          check=True)
    kb, rc = done.stdout.split()
    return int(kb) / 1024, int(rc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", default=str(QUESTIONS), help="comma-separated TSVs (topic<TAB>question)")
    ap.add_argument("--rotations", type=int, default=1, help="voices per question")
    ap.add_argument("--noise", default="gym,music")
    ap.add_argument("--snrs", default="clean,10,5")
    ap.add_argument("--passes", default="+".join(RecognizerConfig().passes), help="e.g. plain+strong+webrtc")
    ap.add_argument("--sessions", default="on,off", help="on = listen --session, off = independent files")
    ap.add_argument("--answer-from", default="", help="answer from only these of the passes heard "
                    "(e.g. plain+strong out of plain+strong+webrtc: the same hypotheses, compared)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--reuse", action="store_true", help="answer again from stored hypotheses")
    ap.add_argument("--dump", type=Path, default=BENCH / "recognizer-misses.tsv")
    ap.add_argument("--png", type=Path, default=None, help="write the right/wrong-topic chart here")
    ap.add_argument("--decision", default="", help="[decision] settings to try, e.g. min_confidence=0.6,min_agreeing=3")
    ap.add_argument("--router", default="", help="[router] settings to try, e.g. min_confidence=0.45")
    ap.add_argument("--skip-speed", action="store_true", help="accuracy only")
    ap.add_argument("--rtf-only", nargs="*", help=argparse.SUPPRESS)  # internal: pinned child
    args = ap.parse_args()
    passes = tuple(p for p in args.passes.split("+") if p)

    if args.rtf_only is not None:
        print(json.dumps(rtf_pinned(args.rtf_only, passes)))
        return 0

    qset = question_set([Path(p) for p in args.questions.split(",")])
    snrs = [s for s in args.snrs.split(",") if s and s != "clean"]
    rows_by_noise: dict[str, list[AudioRow]] = {}
    for noise in args.noise.split(","):
        rows = render_questions(qset, rotations=args.rotations, snrs=tuple(snrs), noise=noise)
        keep = set(args.snrs.split(","))
        if noise != args.noise.split(",")[0]:
            keep.discard("clean")  # clean audio is the same whatever the noise: count it once
        rows_by_noise[noise] = [r for r in rows if r.snr in keep]
    try:
        router = Router.load(config=with_settings(RouterConfig(), args.router))
        decision = with_settings(DecisionConfig(), args.decision)
    except ValueError as e:
        raise SystemExit(f"recognizer_bench: bad setting: {e}") from None
    config = RecognizerConfig(passes=passes)
    series: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    args.dump.parent.mkdir(parents=True, exist_ok=True)
    print(f"questions: {args.questions}; passes: {'+'.join(passes)}"
          + (f", answering from {args.answer_from}" if args.answer_from else ""))
    print(f"{'noise':<7}{'SNR':<8}{'mode':<9}{'on':>5}{'right':>8}{'wrong':>8}{'missed':>8}"
          f"{'off-topic answered':>20}")
    with args.dump.open("w") as dump:
        dump.write("noise\tsnr\tmode\tvoice\tkind\texpected\tquestion\ttranscript\tgot\n")
        for mode in args.sessions.split(","):
            session = mode == "on"
            label = "session" if session else "files"
            for noise, rows in rows_by_noise.items():
                start = time.perf_counter()
                heard = hypotheses(rows, passes, session, args.jobs, args.reuse)
                took = time.perf_counter() - start
                if args.answer_from:
                    use = args.answer_from.split("+")
                    heard = {f: [h for h in hs if h.name in use] for f, hs in heard.items()}
                judged = judge_all(rows, heard, router, session, config, decision)
                for snr in [s for s in SNR_ORDER if any(r.snr == s for r in rows)]:
                    part = [j for j in judged if j["row"].snr == snr]  # type: ignore[attr-defined]
                    on = [j for j in part if j["row"].topic != FALLBACK]  # type: ignore[attr-defined]
                    off = [j for j in part if j["row"].topic == FALLBACK]  # type: ignore[attr-defined]
                    n = max(1, len(on))
                    right = 100 * sum(j["kind"] == "right" for j in on) / n
                    wrong = 100 * sum(j["kind"] == "wrong" for j in on) / n
                    missed = 100 * sum(j["kind"] == "missed" for j in on) / n
                    answered = sum(j["kind"] == "answered" for j in off)
                    series.setdefault((noise, label), {})[snr] = (right, wrong)
                    print(f"{noise:<7}{snr_label(snr):<8}{label:<9}{len(on):>5}{right:>7.1f}%{wrong:>7.1f}%"
                          f"{missed:>7.1f}%{answered:>14}/{len(off)}", flush=True)
                    for j in part:
                        if j["kind"] != "right":
                            r = j["row"]
                            dump.write(f"{noise}\t{snr}\t{label}\t{r.voice}\t{j['kind']}\t{r.topic}\t"  # type: ignore[attr-defined]
                                       f"{r.question}\t{j['transcript']}\t{j['intent']}\n")  # type: ignore[attr-defined]
                if not args.reuse:
                    print(f"  ({len(rows)} files heard in {took:.0f} s with {args.jobs} worker(s))", flush=True)
    print(f"misses: {args.dump}")
    if args.png:
        plot(args.png, series)
        print(f"chart: {args.png}")
    if args.skip_speed:
        return 0
    sample = [str(r.path) for r in next(iter(rows_by_noise.values())) if r.snr in ("clean", "10")][:60]
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    done = subprocess.run([*pin, sys.executable, __file__, "--passes", args.passes, "--rtf-only", *sample],
                          capture_output=True, text=True, check=True)
    speed = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"model load (median of 3, one core): {speed['load_s']:.2f} s")
    print(f"real-time factor, one core, {'+'.join(passes)} streamed: {speed['rtf']:.3f}")
    rss, rc = peak_rss_mb(sample)
    print(f"peak RSS of `voiceskill listen --session --json` on {len(sample)} files: {rss:.0f} MB (exit {rc})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
