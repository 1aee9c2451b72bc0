"""What the commands share: the ``--config`` and ``--article``/``--intents`` options, loading the
configuration as every command does, argument types, and download progress on the terminal.

Nothing here is a command: :mod:`voiceskill.commands` modules (and tests) import from here, never
from each other.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from voiceskill.config import load_config
from voiceskill.settings import AppConfig, check_passes

log = logging.getLogger(__name__)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="config file (default: the per-user one; see `voiceskill config show`)")


def add_article_options(parser: argparse.ArgumentParser, *, purpose: str = "to answer from") -> None:
    """``--article`` (``general.article``) and ``--intents``, the same for every command."""
    parser.add_argument("--article", type=Path, metavar="FILE",
                        help=f"article {purpose} (plain text or markdown; default: general.article, "
                             "else the built-in glute cramps article)")
    parser.add_argument("--intents", type=Path, metavar="FILE",
                        help="curated intents file (default: ARTICLE.intents.toml beside the article, "
                             "else intents built from the article's sections)")


def app_config(args: argparse.Namespace, overrides: Mapping[str, object],
               flags: Mapping[str, str] | None = None) -> AppConfig:
    """The effective settings for this command: the file (``--config`` or the per-user one), then
    ``VOICESKILL_<SECTION>_<KEY>`` environment variables, then the flags in ``overrides``
    (``{"section.key": value}``, None = not given). ``flags``: the flag of an override whose flag
    is not ``--key``, for messages and ``config show``."""
    config, _ = load_config(getattr(args, "config", None), os.environ, overrides, flags=flags)
    if not (getattr(args, "debug", False) or getattr(args, "quiet", False)):  # the flags win
        logging.getLogger().setLevel(config.general.log_level.upper())
    return config


def pass_list(text: str) -> tuple[str, ...]:
    """``--passes plain,strong``: an argparse type for the recognizer's passes."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    try:
        check_passes(names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return names


_BAR_WIDTH = 30
_LOG_EVERY_S = 5.0


def megabytes(n: int) -> str:
    """A byte count as megabytes, for people (one decimal)."""
    return f"{n / 1e6:.1f} MB"


class ProgressReporter:
    """Download progress on ``stream``: a redrawn bar on a terminal, else a log line now and then."""

    def __init__(self, stream: TextIO, *, label: str) -> None:
        self._stream = stream
        self._label = label
        self._tty = stream.isatty()
        self._last_log = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        if self._tty:
            if total:
                filled = _BAR_WIDTH * done // total
                bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
                line = f"\r{self._label} [{bar}] {100 * done // total:3d}% {megabytes(done)} of {megabytes(total)}"
            else:
                line = f"\r{self._label} {megabytes(done)}"
            self._stream.write(line)
            self._stream.flush()
            self._drawn = True
            return
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY_S or (total is not None and done == total):
            self._last_log = now
            of = f" of {megabytes(total)}" if total else ""
            log.info("%s: %s%s", self._label, megabytes(done), of)

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
