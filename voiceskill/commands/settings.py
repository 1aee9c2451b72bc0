"""The configuration as every command that answers or listens loads it (``run``, ``ask``, ``chat``,
``listen``, ``transcribe``): the file (``--config`` or the per-user one), then
``VOICESKILL_<SECTION>_<KEY>`` environment variables, then the command's flags."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from voiceskill.config import load_config
from voiceskill.settings import AppConfig, check_passes


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="config file (default: the per-user one; see `voiceskill config show`)")


def app_config(args: argparse.Namespace, overrides: Mapping[str, object]) -> AppConfig:
    """The effective settings for this command; flags in ``overrides`` (``{"section.key": value}``,
    None = not given) win over the environment, which wins over the file."""
    config, _ = load_config(getattr(args, "config", None), os.environ, overrides)
    return config


def pass_list(text: str) -> tuple[str, ...]:
    """``--passes plain,strong``: an argparse type for the recognizer's passes."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    try:
        check_passes(names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return names
