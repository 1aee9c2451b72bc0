"""Config file loading: precedence, provenance, line-numbered errors, `config init/show`."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from voiceskill import cli
from voiceskill.config import as_dict, default_config_path, field_docs, load_config, render_default_file
from voiceskill.settings import AppConfig
from voiceskill.errors import ConfigError


# A stand-in schema with every supported field type, so these tests do not depend on how the
# stage configs evolve.
@dataclass(frozen=True)
class SpeakerStandIn:
    """Stand-in speaker section.

    rate_wpm: speaking rate in words per minute.
    voice: eSpeak NG voice name.
    """

    rate_wpm: int = 165
    voice: str = "en-us"
    volume: float = field(default=1.0, metadata={"doc": "loudness, 0..1"})
    device: str | None = None


@dataclass(frozen=True)
class TriggerStandIn:
    kind: Literal["keyboard", "evdev", "gpio"] = "keyboard"
    """What starts listening:
    a key, an input device or a GPIO pin."""
    keys: tuple[str, ...] = ("KEY_PLAYPAUSE",)
    grab: bool = False
    device_path: Path | None = None


@dataclass(frozen=True)
class CheckedStandIn:
    silence_ms: int = 700

    def __post_init__(self) -> None:
        if self.silence_ms <= 0:
            raise ConfigError("endpoint silence_ms must be > 0")


@dataclass(frozen=True)
class CheckedApp:
    endpoint: CheckedStandIn = field(default_factory=CheckedStandIn)


@dataclass(frozen=True)
class StandInApp:
    speaker: SpeakerStandIn = field(default_factory=SpeakerStandIn)
    trigger: TriggerStandIn = field(default_factory=TriggerStandIn)


def load(path: Path | None = None, env: dict[str, str] | None = None,
         overrides: dict[str, object] | None = None, tmp: Path | None = None):
    env = dict(env or {})
    env.setdefault("XDG_CONFIG_HOME", str(tmp or "/nonexistent-voiceskill-test"))
    return load_config(path, env, overrides or {}, schema=StandInApp)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_defaults_when_no_file(tmp_path: Path) -> None:
    cfg, src = load(tmp=tmp_path)
    assert cfg == StandInApp()
    assert set(src.values()) == {"default"}
    assert set(src) == {"speaker.rate_wpm", "speaker.voice", "speaker.volume", "speaker.device",
                        "trigger.kind", "trigger.keys", "trigger.grab", "trigger.device_path"}


def test_file_values_and_types(tmp_path: Path) -> None:
    p = write(tmp_path, '[speaker]\nrate_wpm = 150\nvolume = 1\ndevice = "bluez"\n\n'
                        '[trigger]\nkind = "evdev"\nkeys = ["KEY_A", "KEY_B"]\ngrab = true\n'
                        'device_path = "~/dev/input/event3"\n')
    cfg, src = load(p)
    assert cfg.speaker == SpeakerStandIn(rate_wpm=150, volume=1.0, device="bluez")
    assert cfg.trigger.kind == "evdev" and cfg.trigger.keys == ("KEY_A", "KEY_B")
    assert cfg.trigger.grab is True
    assert cfg.trigger.device_path == Path.home() / "dev/input/event3"
    assert src["speaker.rate_wpm"] == f"file:{p}:2"
    assert src["trigger.device_path"] == f"file:{p}:10"
    assert src["speaker.voice"] == "default"


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    p = write(tmp_path, "[speaker]\nrate_wpm = 150\nvoice = \"en-gb\"\n[trigger]\ngrab = true\n")
    env = {"VOICESKILL_SPEAKER_RATE_WPM": "140", "VOICESKILL_SPEAKER_VOICE": "en-sc",
           "VOICESKILL_TRIGGER_KEYS": "KEY_X, KEY_Y", "VOICESKILL_STRICT": "1", "HOME": "/x"}
    cfg, src = load(p, env, {"speaker.rate_wpm": 130, "speaker.volume": None})
    assert cfg.speaker.rate_wpm == 130 and src["speaker.rate_wpm"] == "flag:--rate-wpm"
    assert cfg.speaker.voice == "en-sc" and src["speaker.voice"] == "env:VOICESKILL_SPEAKER_VOICE"
    assert cfg.trigger.keys == ("KEY_X", "KEY_Y")
    assert cfg.trigger.grab is True and src["trigger.grab"] == f"file:{p}:5"
    assert cfg.speaker.volume == 1.0 and src["speaker.volume"] == "default"  # None = flag not given


def test_env_value_parsing(tmp_path: Path) -> None:
    env = {"VOICESKILL_TRIGGER_GRAB": "yes", "VOICESKILL_SPEAKER_VOLUME": "0.5",
           "VOICESKILL_SPEAKER_DEVICE": ""}
    cfg, _ = load(None, env, tmp=tmp_path)
    assert cfg.trigger.grab is True and cfg.speaker.volume == 0.5 and cfg.speaker.device is None


def test_default_file_location_honours_xdg(tmp_path: Path) -> None:
    assert default_config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "voiceskill/config.toml"
    (tmp_path / "voiceskill").mkdir()
    (tmp_path / "voiceskill/config.toml").write_text("[speaker]\nrate_wpm = 99\n")
    cfg, src = load(None, tmp=tmp_path)
    assert cfg.speaker.rate_wpm == 99
    assert src["speaker.rate_wpm"].endswith("config.toml:2")


def test_bad_value_names_key_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "# my settings\n\n[trigger]\ngrab = false\n\n[speaker]\nrate_wpm = \"fast\"\n")
    with pytest.raises(ConfigError) as e:
        load(p)
    assert str(e.value) == f"{p} line 7: speaker.rate_wpm: expected an integer, got 'fast'"


@pytest.mark.parametrize("text, line, words", [
    ('[speaker]\nrate_wpm = 150\nrate = 3\n', 3, ["speaker.rate:", "unknown key", "did you mean rate_wpm"]),
    ('[speaker]\nrate_wpm = 150\n[speakr]\nvoice = "x"\n', 3, ["unknown section [speakr]", "did you mean speaker"]),
    ('[trigger]\nkind = "bluetooth"\n', 2, ["trigger.kind", "one of 'keyboard', 'evdev', 'gpio'"]),
    ('[trigger]\n\n  keys = "KEY_A"\n', 3, ["trigger.keys", "a list of strings"]),
    ('[trigger]\ngrab = 1\n', 2, ["trigger.grab", "true or false, got 1"]),
])
def test_unknown_and_bad_keys_name_the_line(tmp_path: Path, text: str, line: int, words: list[str]) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load(p)
    msg = str(e.value)
    assert msg.startswith(f"{p} line {line}: ")
    for w in words:
        assert w in msg
    assert "\n" not in msg


def test_toml_syntax_error_is_one_line_with_line_number(tmp_path: Path) -> None:
    p = write(tmp_path, '[speaker]\nrate_wpm = 150\nvoice = "en-us\n')
    with pytest.raises(ConfigError) as e:
        load(p)
    assert re.match(rf"{re.escape(str(p))} line 3: TOML syntax error: .+", str(e.value))
    assert "\n" not in str(e.value)


def test_bad_env_and_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"VOICESKILL_SPEAKER_RATE_WPM: speaker.rate_wpm: expected an integer, got 'fast'"):
        load(None, {"VOICESKILL_SPEAKER_RATE_WPM": "fast"}, tmp=tmp_path)
    with pytest.raises(ConfigError, match=r"unknown key speaker.rat.*VOICESKILL_SPEAKER_RATE_WPM"):
        load(None, {"VOICESKILL_SPEAKER_RAT": "1"}, tmp=tmp_path)
    with pytest.raises(ConfigError, match="does not exist: create it with `voiceskill config init"):
        load(tmp_path / "nope.toml")


def test_stage_validation_error_names_where_the_value_came_from(tmp_path: Path) -> None:
    p = write(tmp_path, "[endpoint]\nsilence_ms = 0\n")  # in the range of any duration, but not > 0
    with pytest.raises(ConfigError) as e:
        load_config(p, {}, {}, schema=CheckedApp)
    assert str(e.value) == f"[endpoint] endpoint silence_ms must be > 0 (values set in: file:{p}:2)"


def test_field_docs_from_metadata_and_docstring() -> None:
    docs = field_docs(SpeakerStandIn)
    assert docs["rate_wpm"] == "speaking rate in words per minute."
    assert docs["volume"] == "loudness, 0..1"
    assert docs["device"] == ""
    assert field_docs(TriggerStandIn)["kind"] == "What starts listening: a key, an input device or a GPIO pin."


def uncomment_keys(text: str) -> str:
    """Uncomment every key line (the line after each ``#   type:`` line)."""
    return re.sub(r"^(#   type: .*\n)# ([a-z_]+ = )", r"\1\2", text, flags=re.M)


@pytest.mark.parametrize("schema", [StandInApp, AppConfig])
def test_default_file_loads_back_to_defaults(tmp_path: Path, schema: type) -> None:
    text = render_default_file(schema)
    p = write(tmp_path, text)
    cfg, src = load_config(p, {}, {}, schema=schema)
    assert cfg == schema() and set(src.values()) == {"default"}
    # With every key line uncommented the file sets every key, still to the defaults.
    p.write_text(uncomment_keys(text))
    cfg, src = load_config(p, {}, {}, schema=schema)
    assert cfg == schema()
    assert all(s.startswith(f"file:{p}:") for s in src.values()), src
    for f in dataclasses.fields(schema):
        for g in dataclasses.fields(getattr(schema(), f.name)):
            assert re.search(rf"^# {g.name} = ", text, re.M), f"{f.name}.{g.name} missing"


def test_cli_init_refuses_overwrite_then_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for k in [k for k in __import__("os").environ if k.startswith("VOICESKILL_") and k != "VOICESKILL_STRICT"]:
        monkeypatch.delenv(k)
    target = tmp_path / "voiceskill" / "config.toml"
    assert cli.main(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert cli.main(["config", "init"]) == 0 and target.is_file()
    capsys.readouterr()
    assert cli.main(["config", "init"]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert cli.main(["config", "init", "--force"]) == 0
    capsys.readouterr()

    target.write_text(target.read_text() + '\n[general]\nlog_level = "debug"\n')
    # ^ a second [general] table is a TOML error: check show reports it with a line number
    assert cli.main(["config", "show"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"config.toml line \d+: TOML syntax error", err), err

    target.write_text(uncomment_keys(render_default_file()).replace('log_level = "info"', 'log_level = "debug"'))
    line = target.read_text().splitlines().index('log_level = "debug"') + 1
    monkeypatch.setenv("VOICESKILL_SERVICE_RESTART_S", "9")
    assert cli.main(["config", "show", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["general"]["log_level"] == {"value": "debug", "source": f"file:{target}:{line}"}
    assert out["config"]["service"]["restart_s"] == {"value": 9, "source": "env:VOICESKILL_SERVICE_RESTART_S"}
    assert out["config"]["general"]["model"]["value"] is None
    assert set(out["config"]) == set(as_dict(AppConfig()))

    assert cli.main(["config", "show"]) == 0
    text = capsys.readouterr().out
    assert re.search(r'^log_level\s+= "debug"\s+# file:.*config.toml:\d+$', text, re.M), text
    assert re.search(r"^restart_s\s+= 9\s+# env:VOICESKILL_SERVICE_RESTART_S$", text, re.M), text
    assert re.search(r"^model\s+= \(unset\)\s+# file:", text, re.M), text


def test_log_level_setting_sets_the_log_level_unless_a_flag_does(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    import argparse
    import logging

    from voiceskill.cliutil import app_config

    root = logging.getLogger()
    monkeypatch.setattr(root, "level", root.level)  # restored after the test
    empty = tmp_path / "config.toml"
    empty.write_text("")
    monkeypatch.setenv("VOICESKILL_GENERAL_LOG_LEVEL", "warning")
    app_config(argparse.Namespace(config=empty), {})
    assert root.level == logging.WARNING
    monkeypatch.setenv("VOICESKILL_GENERAL_LOG_LEVEL", "debug")
    app_config(argparse.Namespace(config=empty), {})
    assert root.level == logging.DEBUG
    root.setLevel(logging.WARNING)
    app_config(argparse.Namespace(config=empty, quiet=True), {})  # -q wins
    assert root.level == logging.WARNING
