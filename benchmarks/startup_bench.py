#!/usr/bin/env python3
"""Start-up time and memory of the coach, and what Vosk's beam / max-active do to speed and accuracy.

Usage: python3 benchmarks/startup_bench.py [--repeats 3] [--skip-run] [--skip-beam]
                                           [--variants 13:7000:4,10:3000:2,8:2000:2,6:1000:1,4:500:1]
                                           [--rotations 3] [--snrs 10]

1. Start-up (each measured in fresh processes, ``--repeats`` times, median wall time, max peak RSS
   from ``os.wait4``):
   * ``import``: ``python -c "import voiceskill.cli"`` (interpreter + package import);
   * ``model load``: a child that loads the model with :class:`SpeechModel`; reports Vosk's load
     time and the RSS growth caused by the model (peak RSS after load minus before), which checks
     the memory estimate of ``voiceskill doctor`` (model size x 2.5 + 80 MB);
   * ``listen``: ``voiceskill -q listen --json ONE.wav`` from process start to the answer;
   * ``run``: ``voiceskill run --trigger terminal|wake`` from process start to its log line
     "ready in N ms" (model loaded, answers synthesized or taken from the cache, trigger ready),
     on PulseAudio null sinks, then SIGTERM (also measures the time to stop and the exit code).
2. Beam / max-active: Vosk reads its decoder options only from the model's ``conf/model.conf``,
   so each variant ``BEAM:MAX_ACTIVE:LATTICE_BEAM`` gets a temporary model directory (the big
   files symlinked, ``model.conf`` rewritten). For each, a child pinned to one CPU
   (``taskset -c 0``) runs the ``listen`` pipeline (grammar mode + router) on the rendered eval
   questions (tests/audio_fixtures.py; ``--rotations`` voices per question, clean plus ``--snrs``)
   and reports the real-time factor (recognition time / audio time), the right-topic share and the
   word error rate against the question text, in grammar mode (what ``listen`` uses) and open
   vocabulary (``--modes``).
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SNAPSHOT_ENV = "STARTUP_BENCH_SNAPSHOT"
"""Beam-sweep children import the package from a copy taken when the sweep starts, so edits to
the working tree during a long sweep cannot change results between variants."""
sys.path[:0] = [os.environ.get(SNAPSHOT_ENV) or str(REPO), str(REPO / "tests")]

from voiceskill.models import resolve_model_dir  # noqa: E402

DEFAULT_VARIANTS = "13:7000:4,10:3000:2,8:2000:2,6:1000:1,4:500:1"
QUESTION = "why do my glutes keep cramping"


# --------------------------------------------------------------------------------------------
# Processes


def peak_rss_of(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, str]:
    """(wall s, peak RSS MB, exit code, stdout) of ``cmd``; the peak comes from os.wait4 on that child."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env=env, cwd=REPO)
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, proc.returncode, out.decode()


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def render_question(outdir: Path) -> Path:
    raw, wav = outdir / "raw.wav", outdir / "question.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "-w", str(raw), QUESTION], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)], check=True)
    return wav


_LOAD_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from voiceskill.recognizer import SpeechModel
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
m = SpeechModel(sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"load_s": m.load_s, "before_mb": before / 1024, "after_mb": after / 1024}))
"""


def startup(model: Path, repeats: int, skip_run: bool) -> dict[str, object]:
    py = sys.executable
    result: dict[str, object] = {}
    walls, rss = [], []
    for _ in range(repeats):
        w, r, rc, _ = peak_rss_of([py, "-c", "import voiceskill.cli"])
        walls.append(w)
        rss.append(r)
    result["import"] = {"wall_ms": round(median(walls) * 1000), "peak_rss_mb": round(max(rss), 1)}

    loads, growth, peaks = [], [], []
    for _ in range(repeats):
        _, r, rc, out = peak_rss_of([py, "-c", _LOAD_CHILD, str(model)])
        data = json.loads(out.strip().splitlines()[-1])
        loads.append(data["load_s"])
        growth.append(data["after_mb"] - data["before_mb"])
        peaks.append(r)
    size_mb = sum(p.stat().st_size for p in model.rglob("*") if p.is_file()) / 1e6
    result["model load"] = {"vosk_load_ms": round(median(loads) * 1000), "rss_growth_mb": round(median(growth), 1),
                            "peak_rss_mb": round(max(peaks), 1), "model_mb": round(size_mb, 1),
                            "growth_per_model_mb": round(median(growth) / size_mb, 2)}

    with tempfile.TemporaryDirectory() as tmp:
        wav = render_question(Path(tmp))
        walls, rss, answers = [], [], []
        for _ in range(repeats):
            w, r, rc, out = peak_rss_of([py, "-m", "voiceskill", "-q", "listen", "--json", "--model", str(model), str(wav)])
            walls.append(w)
            rss.append(r)
            answers.append(json.loads(out.strip().splitlines()[-1]) if rc == 0 and out.strip() else {"error": rc})
        result["listen one file"] = {"wall_ms": round(median(walls) * 1000), "peak_rss_mb": round(max(rss), 1),
                                     "intent": answers[-1].get("intent"), "transcript": answers[-1].get("transcript")}
    if not skip_run:
        for trigger in ("terminal", "wake"):
            result[f"run --trigger {trigger}"] = measure_run(model, repeats, trigger)
    return result


def measure_run(model: Path, repeats: int, trigger: str, timeout_s: float = 180) -> dict[str, object]:
    """`voiceskill run --trigger T` to its "ready in N ms" line, on PulseAudio null sinks; then SIGTERM.

    The terminal trigger gets a pseudo-terminal as stdin. Answers are synthesized into the
    speaker's cache on the first run, so later runs show the cached start-up.
    """
    if not (REPO / "voiceskill" / "commands" / "run.py").exists():
        return {"skipped": "voiceskill run is not written yet"}
    try:
        import pulse  # tests/pulse.py: null sinks
    except Exception as exc:  # pragma: no cover - depends on the test helpers
        return {"skipped": f"tests/pulse.py unavailable ({exc})"}
    if not pulse.pulse_tools_present():
        return {"skipped": "PulseAudio tools missing"}
    pulse.ensure_server()
    tag = f"bench{os.getpid()}"
    modules = [pulse.load_null_sink(f"{tag}_mic"), pulse.load_null_sink(f"{tag}_spk")]
    env = dict(os.environ, PULSE_SOURCE=f"{tag}_mic.monitor", PULSE_SINK=f"{tag}_spk")
    reported: list[float] = []
    walls, stops, rss, codes, errors = [], [], [], [], []
    try:
        for _ in range(repeats):
            master, slave = pty.openpty()
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "voiceskill", "run", "--model", str(model),
                                     "--trigger", trigger], stdin=slave, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, env=env, cwd=REPO, text=True)
            os.close(slave)
            assert proc.stderr is not None
            ready = None
            lines: list[str] = []
            while time.perf_counter() - start < timeout_s:
                line = proc.stderr.readline()
                if not line:
                    break
                lines.append(line.rstrip())
                m = re.search(r"ready in (\d+(?:\.\d+)?) ?ms", line)
                if m:
                    ready = float(m.group(1))
                    walls.append(time.perf_counter() - start)
                    break
            if ready is None:
                errors.append(lines[-1] if lines else f"no output in {timeout_s:.0f} s")
            else:
                reported.append(ready)
            t_stop = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            proc.stderr.close()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            os.close(master)
            stops.append(time.perf_counter() - t_stop)
            rss.append(usage.ru_maxrss / 1024)
            codes.append(proc.returncode)
    finally:
        for index in modules:
            pulse.unload_module(index)
    if not reported:
        return {"skipped": f"no 'ready in N ms' line: {errors[-1] if errors else '?'}"}
    return {"ready_ms_logged_each": [round(r) for r in reported],
            "ready_wall_ms": round(median(walls) * 1000),
            "stop_after_sigterm_ms": round(median(stops) * 1000), "peak_rss_mb": round(max(rss), 1),
            "exit_codes_after_sigterm": codes}


# --------------------------------------------------------------------------------------------
# Beam / max-active


def tuned_model_dir(src: Path, dst: Path, options: dict[str, str]) -> Path:
    """A copy of model ``src`` at ``dst`` with ``conf/model.conf`` options replaced (big files symlinked)."""
    from voiceskill.models import MANIFEST_NAME

    dst.mkdir(parents=True)
    for entry in src.iterdir():  # the install manifest is left out: model.conf differs from it
        if entry.name not in ("conf", MANIFEST_NAME):
            (dst / entry.name).symlink_to(entry.resolve())
    (dst / "conf").mkdir()
    for entry in (src / "conf").iterdir():
        if entry.name != "model.conf":
            (dst / "conf" / entry.name).symlink_to(entry.resolve())
    lines = (src / "conf" / "model.conf").read_text().splitlines()
    seen = set()
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip()
        if key.lstrip("-") in options:
            out.append(f"{key}={options[key.lstrip('-')]}")
            seen.add(key.lstrip("-"))
        else:
            out.append(line)
    out += [f"--{k}={v}" for k, v in options.items() if k not in seen]
    (dst / "conf" / "model.conf").write_text("\n".join(out) + "\n")
    return dst


def model_conf(model: Path) -> dict[str, str]:
    conf = {}
    for line in (model / "conf" / "model.conf").read_text().splitlines():
        if line.startswith("--") and "=" in line:
            k, v = line[2:].split("=", 1)
            conf[k] = v
    return conf


def beam_child(model: str, index_file: str, mode: str) -> dict[str, float]:
    """In a pinned child: the listen pipeline over the indexed files; RTF, right-topic share, WER."""
    from audio_fixtures import answer_ok, load_topics, word_errors

    from voiceskill.app import question_vocabulary
    from voiceskill.recognizer import SpeechModel, recognize_pcm
    from voiceskill.settings import RecognizerConfig
    from voiceskill.router import Router
    from voiceskill.wavio import read_wav

    rows = json.loads(Path(index_file).read_text())["rows"]
    topics = load_topics()
    router = Router.load()
    config = RecognizerConfig(grammar=mode == "grammar")
    vocabulary = question_vocabulary(config, router)
    pcms = [read_wav(r["path"]) for r in rows]
    audio_s = sum(len(p) for p in pcms) / 2 / 16000
    ok = errors = words = 0
    spent = 0.0
    with SpeechModel(Path(model)) as sm, sm.recognizer(config, vocabulary) as rec:
        for row, pcm in zip(rows, pcms):
            rec.reset()
            t0 = time.perf_counter()
            heard = recognize_pcm(rec, pcm, config.file_chunk_ms, config.rate_hz)
            spent += time.perf_counter() - t0
            reply = router.route(heard.text, heard.confidences)
            ok += answer_ok(row["topic"], reply.intent, reply.answer, topics)
            e, n = word_errors(" ".join(re.findall(r"[a-z']+", row["question"].lower())), heard.text.replace("[unk]", "").strip())
            errors, words = errors + e, words + n
    return {"rtf": spent / audio_s, "right": ok, "n": len(rows), "audio_s": audio_s, "wer": errors / max(1, words)}


def beam_sweep(model: Path, variants: list[tuple[str, str, str]], rotations: int, snrs: tuple[str, ...],
               modes: tuple[str, ...]) -> list[dict[str, object]]:
    from audio_fixtures import render_questions

    rows = render_questions(rotations=rotations, snrs=snrs)
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = Path(tmp) / "snapshot"
        shutil.copytree(REPO / "voiceskill", snapshot / "voiceskill",
                        ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ, **{SNAPSHOT_ENV: str(snapshot)})
        index = Path(tmp) / "rows.json"
        index.write_text(json.dumps({"rows": [{"path": str(r.path), "topic": r.topic, "question": r.question}
                                           for r in rows]}))
        base = model_conf(model)
        for beam, max_active, lattice in variants:
            opts = {"beam": beam, "max-active": max_active, "lattice-beam": lattice}
            is_default = all(base.get(k) in (v, v + ".0") or (k in base and float(base[k]) == float(v))
                             for k, v in opts.items())
            variant_dir = tuned_model_dir(model, Path(tmp) / f"m-{beam}-{max_active}-{lattice}", opts)
            for mode in modes:
                done = subprocess.run([*pin, sys.executable, str(Path(__file__).resolve()), "--beam-child", str(variant_dir),
                                       str(index), mode], capture_output=True, text=True, cwd=tmp, env=env)
                if done.returncode != 0:
                    results.append({"variant": opts, "mode": mode, "error": done.stderr.strip().splitlines()[-1:]})
                    print(f"  {opts} {mode}: failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
                    continue
                d = json.loads(done.stdout.strip().splitlines()[-1])
                results.append({"mode": mode, "beam": beam, "max_active": max_active, "lattice_beam": lattice,
                                "default": is_default, "rtf": round(d["rtf"], 3),
                                "right_pct": round(100 * d["right"] / d["n"], 1), "wer_pct": round(100 * d["wer"], 1),
                                "n": d["n"], "audio_s": round(d["audio_s"], 1)})
                print(f"  {mode:<7} beam {beam:>4} max-active {max_active:>5} lattice-beam {lattice}: "
                      f"RTF {d['rtf']:.3f}  right topic {100 * d['right'] / d['n']:5.1f}%  "
                      f"WER {100 * d['wer']:5.1f}%  (n={d['n']})" + ("  [model default]" if is_default else ""),
                      flush=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-run", action="store_true", help="do not measure `voiceskill run`")
    ap.add_argument("--skip-beam", action="store_true")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS, help="BEAM:MAX_ACTIVE:LATTICE_BEAM,...")
    ap.add_argument("--rotations", type=int, default=3, help="voices per question for the beam sweep")
    ap.add_argument("--snrs", default="10", help="noisy renderings besides clean, e.g. 10,5")
    ap.add_argument("--json", type=Path, help="also write all figures to this file")
    ap.add_argument("--modes", default="grammar,open", help="recognizer modes for the beam sweep")
    ap.add_argument("--beam-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.beam_child:
        print(json.dumps(beam_child(*args.beam_child)))
        return 0

    model = resolve_model_dir(args.model)
    print(f"model: {model}  ({os.cpu_count()} CPUs, python {sys.version.split()[0]})", flush=True)
    figures: dict[str, object] = {"model": str(model)}
    figures["startup"] = s = startup(model, args.repeats, args.skip_run)
    for name, row in s.items():  # type: ignore[union-attr]
        print(f"  {name:<16} " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if not args.skip_beam:
        variants = [tuple(v.split(":")) for v in args.variants.split(",") if v]
        print(f"beam sweep on {args.rotations} voice(s) per question, clean + {args.snrs} dB, one core:", flush=True)
        figures["beam"] = beam_sweep(model, variants, args.rotations,  # type: ignore[arg-type]
                                     tuple(x for x in args.snrs.split(",") if x),
                                     tuple(m for m in args.modes.split(",") if m))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
