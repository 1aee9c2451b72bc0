"""The ``voiceskill`` command line: parses arguments, sets up logging, maps errors to exit codes.

Each subcommand lives in :mod:`voiceskill.commands` as a module with
``register(subparsers, common)``; the parser it adds sets ``func`` to a handler
``(argparse.Namespace) -> int``. Handlers raise :class:`VoiceskillError` for anything a user
can fix; this module turns that into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import io
import logging
import os
import sys
import typing
from collections.abc import Sequence

from voiceskill import __version__
from voiceskill.errors import VoiceskillError

log = logging.getLogger(__name__)

COMMANDS = ("ask", "listen", "run", "wyoming", "model", "devices", "config", "doctor", "service", "intents")


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


class OutputError(VoiceskillError):
    """Standard output cannot be written (closed, disk full, I/O error)."""


class _GuardedStdout(io.TextIOBase):
    """``sys.stdout`` that turns a failed write (``>/dev/full``, ``>&-``) into an
    :class:`OutputError`, so it ends as one line on stderr, not a traceback or a silent exit 0.
    A broken pipe (``| head -1``) stays a :class:`BrokenPipeError`: that reader is done."""

    def __init__(self, inner: typing.TextIO | None) -> None:
        super().__init__()
        self._inner = inner

    def _fail(self, exc: OSError | None) -> OutputError:
        why = "it is closed" if exc is None else (exc.strerror or str(exc))
        return OutputError(f"cannot write to standard output ({why}); check where the output goes "
                           f"(a full disk, a closed or read-only file)")

    def write(self, text: str) -> int:
        if self._inner is None:
            raise self._fail(None)
        try:
            return self._inner.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._fail(exc) from None

    def flush(self) -> None:
        if self._inner is None:
            return
        try:
            self._inner.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._fail(exc) from None

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._inner is not None and self._inner.isatty()

    def fileno(self) -> int:
        if self._inner is None:
            raise OSError("standard output is closed")
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", None) or "utf-8"


def _discard_stdout() -> None:
    """After a failed write, point fd 1 at /dev/null so the interpreter's final flush of the
    unwritten buffer cannot print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "debug", False), getattr(args, "quiet", False))
    stdout = sys.stdout
    sys.stdout = _GuardedStdout(stdout)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except VoiceskillError as exc:
        if isinstance(exc, OutputError):
            _discard_stdout()
        print(f"voiceskill: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `voiceskill ask ... | head -1`
        _discard_stdout()
        sys.stderr.close()
        return 0
    finally:
        sys.stdout = stdout


if __name__ == "__main__":
    sys.exit(main())
