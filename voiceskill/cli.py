"""The ``voiceskill`` command line: parses arguments, sets up logging, maps errors to exit codes.

Each subcommand lives in :mod:`voiceskill.commands` as a module with
``register(subparsers, common)``; the parser it adds sets ``func`` to a handler
``(argparse.Namespace) -> int``. Handlers raise :class:`VoiceskillError` for anything a user
can fix; this module turns that into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from voiceskill import __version__
from voiceskill.errors import VoiceskillError

log = logging.getLogger(__name__)

COMMANDS = ("ask", "listen", "run", "wyoming", "model", "devices", "config", "doctor", "service")


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="verbose logs, including the speech engine's own")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only warnings and errors in the log")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="voiceskill", parents=[common],
        description="Offline voice coach: ask a question, hear the answer from a trusted article.")
    parser.add_argument("--version", action="version", version=f"voiceskill {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"voiceskill.commands.{name}").register(sub, common)
    return parser


def setup_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "debug", False), getattr(args, "quiet", False))
    try:
        return int(args.func(args) or 0)
    except VoiceskillError as exc:
        print(f"voiceskill: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `voiceskill ask ... | head -1`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
