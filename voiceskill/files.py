"""Safe file writing: whole-or-nothing replacement, and start-up checks of where we will write.

* :func:`replacing` hands out a temporary path beside the target; the target is replaced by it
  (``os.replace``, after an fsync) only when the block ends without an error, so a full disk, a
  crash or a signal never leaves a cut-off file where a good one was.
* :func:`writable_dir_problem` and :func:`output_file_problem` say, before any slow start-up
  work, why a folder or an output file cannot be written (``None`` when it can).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

TMP_SUFFIX = ".tmp"


def temp_name(path: Path) -> Path:
    """The hidden temporary beside ``path`` that :func:`replacing` uses (the PID keeps
    concurrent writers apart and lets :func:`remove_dead_temps` find those of dead processes)."""
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content into; on success it replaces
    ``path`` atomically (keeping an existing file's permission bits), on any error or
    interruption it is removed and ``path`` is untouched."""
    target = Path(path)
    tmp = temp_name(target)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


def writable_dir_problem(path: Path, *, create: bool = True) -> str | None:
    """Why files cannot be created in the folder ``path`` (made when missing and ``create``),
    or ``None``. Tries for real (a temporary file), so it is right for root and ACLs too."""
    if path.exists() and not path.is_dir():
        return "it is a file, not a folder"
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except FileNotFoundError:
        return "it does not exist"
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "it is not writable (permission denied or a read-only file system)"
        return _describe(exc)
    return None


def _is_wav(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def output_file_problem(path: Path, kind: str = "WAV") -> str | None:
    """Why ``path`` cannot be the output file, or ``None``. An existing file is only ever
    replaced when it is already a ``kind`` file (a WAV: RIFF/WAVE) or empty: never a text file
    someone mistyped."""
    if path.is_dir():
        return "it is a folder"
    if path.exists():
        if not path.is_file():
            return "it is not a regular file"
        if path.stat().st_size and not _is_wav(path):
            return f"it exists and is not a {kind} file (not overwriting it)"
    problem = writable_dir_problem(path.parent if str(path.parent) else Path("."), create=False)
    return f"its folder {path.parent}: {problem}" if problem else None


def remove_dead_temps(folder: Path, pattern: str = f".*{TMP_SUFFIX}*") -> int:
    """Remove temporaries in ``folder`` named ``.NAME.PID.tmp...`` whose process is gone (killed
    hard); returns how many. Those of running processes are kept."""
    removed = 0
    try:
        candidates = list(folder.glob(pattern))
    except OSError:
        return 0
    for tmp in candidates:
        parts = tmp.name.split(".")
        pid = next((int(p) for p in reversed(parts) if p.isdigit()), None)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed += 1
            log.debug("removed %s, left by process %d", tmp, pid)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
