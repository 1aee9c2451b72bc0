"""Lazy imports at the edges: `voiceskill --version` and typed questions (`ask`) work on a machine
where numpy, vosk and sounddevice cannot be imported at all."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

BLOCKED = ("numpy", "vosk", "sounddevice")

# Runs voiceskill's __main__ with an import hook in front of every finder that refuses BLOCKED.
_RUNNER = """
import runpy, sys
BLOCKED = set(sys.argv[1].split(","))

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked by the test")
        return None

sys.meta_path.insert(0, Blocker())
sys.argv = ["voiceskill", *sys.argv[2:]]
runpy.run_module("voiceskill", run_name="__main__", alter_sys=True)
"""


def without_audio_stack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _RUNNER, ",".join(BLOCKED), *args], capture_output=True,
                          text=True, cwd=REPO, timeout=60)


def test_the_blocker_blocks() -> None:
    """The hook really makes the audio stack unimportable (else the tests below prove nothing)."""
    done = without_audio_stack("devices")
    assert done.returncode != 0
    assert "blocked by the test" in done.stderr


def test_version_needs_no_audio_stack() -> None:
    done = without_audio_stack("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("voiceskill ")


def test_ask_needs_no_audio_stack() -> None:
    done = without_audio_stack("ask", "--json", "how much water should I drink")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["intent"] == "water"


def test_ask_help_and_config_show_need_no_audio_stack() -> None:
    for args in (("ask", "--help"), ("config", "show")):
        done = without_audio_stack(*args)
        assert done.returncode == 0, (args, done.stderr)
