"""The documentation covers what the program has (in the spirit of sqlite-utils' test_docs.py):
every command and subcommand is in `voiceskill --help` and the README, and every config key is in
the configuration reference the README points to, which is current."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from conftest import REPO
from voiceskill.cli import build_parser
from voiceskill.config import field_types, render_reference, sections

README = (REPO / "README.md").read_text(encoding="utf-8")
REFERENCE = REPO / "docs" / "config.md"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


COMMANDS = sorted(_subcommands(build_parser()))
SUBCOMMANDS = sorted((name, sub) for name, parser in _subcommands(build_parser()).items()
                     for sub in _subcommands(parser))
KEYS = sorted(f"{section}.{key}" for section, cls in sections().items() for key in field_types(cls))


def _help(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "voiceskill", *args, "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_lists_are_read() -> None:
    assert {"ask", "run", "listen", "wyoming", "config"} <= set(COMMANDS)
    assert ("config", "show") in SUBCOMMANDS and ("model", "download") in SUBCOMMANDS
    assert "router.min_confidence" in KEYS and "wyoming.uri" in KEYS


def test_every_command_is_in_the_help_and_the_readme() -> None:
    top = _help()
    missing_help = [c for c in COMMANDS if not re.search(rf"^\s+{c}\b", top, re.M)]
    missing_readme = [c for c in COMMANDS if f"voiceskill {c}" not in README]
    assert (missing_help, missing_readme) == ([], [])


@pytest.mark.parametrize("command", sorted({c for c, _ in SUBCOMMANDS}))
def test_every_subcommand_is_in_the_help_and_the_readme(command: str) -> None:
    text = _help(command)
    subs = [s for c, s in SUBCOMMANDS if c == command]
    missing_help = [s for s in subs if not re.search(rf"^\s+{s}\b", text, re.M)]
    missing_readme = [s for s in subs if f"voiceskill {command} {s}" not in README]
    assert (missing_help, missing_readme) == ([], [])


def test_the_readme_points_to_the_config_reference() -> None:
    assert "docs/config.md" in README


def test_every_config_key_is_in_the_reference() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    assert [k for k in KEYS if f"`{k}`" not in text] == []
    assert [s for s in sections() if f"## [{s}]" not in text] == []


def test_the_config_reference_is_current() -> None:
    """docs/config.md is what scripts/config_reference.py writes from the settings today."""
    assert REFERENCE.read_text(encoding="utf-8") == render_reference() + "\n"
