"""Vosk speech model management: find, check, install and download model directories.

Where a model is looked for, in order (:func:`resolve_model_dir`):

1. an explicit directory (``--model DIR``),
2. the ``VOICESKILL_MODEL`` environment variable,
3. ``./models/`` in the working directory (a model directly there, or the first complete
   model subdirectory in sorted order),
4. the per-user data directory, :func:`user_models_dir` (``~/.local/share/voiceskill/models``
   on Linux, honouring ``XDG_DATA_HOME``).

Installs are atomic: everything is unpacked into a hidden temporary directory next to the
destination, checked, given a manifest (:data:`MANIFEST_NAME`: path, size and sha256 of every
file) and only then renamed into place, so an interrupted or failed install leaves nothing
half-installed. Resolution checks file sizes against the manifest (fast); a full sha256 check
is :func:`verify_model_dir`.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import logging
import os
import shutil
import socket
import stat
import struct
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from voiceskill.errors import ModelError

log = logging.getLogger(__name__)

ENV_VAR = "VOICESKILL_MODEL"
MANIFEST_NAME = ".voiceskill-manifest.json"
_TMP_PREFIX = ".voiceskill-tmp-"

DEFAULT_MODEL_URL = "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip"
# The publisher lists no checksum for its zips. This sha256 and size are those of the
# published vosk-model-small-en-us-0.15.zip as recorded, identically, by several independent
# projects that pin it (Android and desktop apps, an Arch package build). Besides the checksum,
# every download is checked as a zip (CRC of each member) and as a model (structure, sizes).
DEFAULT_MODEL_SHA256 = "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498"
DEFAULT_MODEL_SIZE_BYTES = 41_205_931

MIN_FINAL_MDL_BYTES = 1_000_000
"""A model's acoustic model (``am/final.mdl``) is megabytes; anything smaller is cut short."""

_FIX = "`voiceskill model download` (internet) or `voiceskill model install FILE`"
_IVECTOR_FILES = ("final.ie", "final.dubm", "final.mat", "global_cmvn.stats",
                  "online_cmvn.conf", "splice.conf")
_KALDI_BINARY_SUFFIXES = (".mdl", ".fst", ".ie", ".dubm", ".mat", ".carpa")

MAX_MODEL_BYTES = 8_000_000_000
"""The largest model that may be installed (unpacked). The biggest published Vosk models are a
few GB; anything larger is a mistake or a zip bomb."""
MAX_ZIP_RATIO = 50
"""Unpacked size / zip size above which a zip is refused: Kaldi model files compress 1.5-4x,
a zip bomb hundreds or thousands of times."""
RATIO_CHECKED_ABOVE_BYTES = 50_000_000
"""Small archives may compress as well as they like: unpacking them costs nothing."""
STALL_MIN_BYTES_PER_S = 1024
"""A download that gets less than this, on average over its timeout window, has stalled."""
DEFAULT_DEADLINE_S = 3600.0

ProgressFn = Callable[[int, "int | None"], None]
"""``progress(done_bytes, total_bytes_or_None)`` called while downloading."""


@dataclass(frozen=True)
class ModelInfo:
    """One model directory found on disk (see :func:`installed_models`)."""

    name: str
    path: Path
    size_bytes: int
    complete: bool
    problem: str | None = None
    """Why it is not complete (``None`` when complete)."""
    has_manifest: bool = False


# --- where models live -----------------------------------------------------------------------

def user_models_dir(env: Mapping[str, str] | None = None) -> Path:
    """The per-user model directory: ``platformdirs.user_data_dir("voiceskill")/models``.

    With ``env`` given (tests, or a caller with its own environment) the XDG rule that
    platformdirs applies on Linux is applied to that mapping instead of ``os.environ``.
    """
    if env is None:
        try:
            import platformdirs
        except ImportError:  # a declared dependency; fall back to the XDG rule if it is absent
            env = os.environ
        else:
            return Path(platformdirs.user_data_dir("voiceskill", appauthor=False)) / "models"
    xdg = env.get("XDG_DATA_HOME", "").strip()
    home = env.get("HOME") or str(Path.home())
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path(home) / ".local" / "share"
    return base / "voiceskill" / "models"


def local_models_dir(cwd: Path | None = None) -> Path:
    """``./models`` in the working directory (or ``cwd``)."""
    return (cwd if cwd is not None else Path.cwd()) / "models"


def looks_like_model(path: Path) -> bool:
    """True when ``path`` is a directory shaped like a Vosk model (complete or not)."""
    if not path.is_dir() or path.name.startswith("."):
        return False
    return any((path / part).exists() for part in ("am", "conf", "graph", "final.mdl", MANIFEST_NAME))


def _candidates(root: Path) -> list[Path]:
    """Model directories at ``root``: ``root`` itself if it is one, else its model subdirectories."""
    if looks_like_model(root):
        return [root]
    if not root.is_dir():
        return []
    try:
        return sorted(p for p in root.iterdir() if looks_like_model(p))
    except OSError:
        return []


# --- checking ---------------------------------------------------------------------------------

def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def _structure_problem(model: Path) -> str | None:
    """First structural problem of a model directory, or ``None`` (V1 and V2 Vosk layouts)."""
    if (model / "am" / "final.mdl").exists() or not (model / "final.mdl").exists():
        required = ["am/final.mdl", "conf/model.conf", "conf/mfcc.conf"]
        graph = model / "graph"
        graph_prefix = "graph/"
    else:  # V1: everything at the top level
        required = ["final.mdl", "mfcc.conf"]
        graph = model
        graph_prefix = ""
    if (graph / "HCLG.fst").exists():
        required.append(graph_prefix + "HCLG.fst")
    else:
        required += [graph_prefix + "HCLr.fst", graph_prefix + "Gr.fst"]
    conf = model / "conf" / "model.conf"
    mentions_ivector = conf.is_file() and "ivector" in conf.read_text(errors="replace")
    if (model / "ivector").is_dir() or mentions_ivector:
        required += [f"ivector/{name}" for name in _IVECTOR_FILES]
    for rel in required:
        size = _file_size(model / rel)
        if size is None:
            return f"{rel} is missing"
        if size == 0:
            return f"{rel} is empty"
    mdl = required[0]
    size = _file_size(model / mdl) or 0
    if size < MIN_FINAL_MDL_BYTES:
        return f"{mdl} is truncated ({size} bytes, a model's is megabytes)"
    for path in sorted(model.rglob("*")):
        if path.suffix in _KALDI_BINARY_SUFFIXES and path.is_file():
            rel = path.relative_to(model).as_posix()
            if _file_size(path) == 0:
                return f"{rel} is empty"
            if path.suffix == ".fst":
                problem = _fst_problem(path, rel)
                if problem:
                    return problem
    return None


_FST_MAGIC = 2125659606
_ADDON_MAGIC = 446681434
_FST_HAS_ISYMBOLS, _FST_HAS_OSYMBOLS, _FST_IS_ALIGNED = 1, 2, 4
_SYMTAB_MAGIC = 2125658996
_CONST_STATE_BYTES = 20  # final weight (float), first arc, arcs, input and output epsilons (uint32)
_ARC_BYTES = {"standard": 16, "log": 16}  # ilabel, olabel, weight (float), next state


class _Short(Exception):
    """The file ends inside a header: it is cut short."""


def _reader(f: BinaryIO) -> tuple[Callable[[], int], Callable[[], int], Callable[[], str]]:
    def take(n: int) -> bytes:
        data = f.read(n)
        if len(data) != n:
            raise _Short
        return data

    def i32() -> int:
        return struct.unpack("<i", take(4))[0]

    def i64() -> int:
        return struct.unpack("<q", take(8))[0]

    def string() -> str:
        n = i32()
        if not 0 <= n < 1 << 16:
            raise ValueError("bad string length")
        return take(n).decode("utf-8", "replace")

    return i32, i64, string


def _skip_symbols(f: BinaryIO, i32: Callable[[], int], i64: Callable[[], int], string: Callable[[], str]) -> None:
    if i32() != _SYMTAB_MAGIC:
        raise ValueError("bad symbol table")
    string()  # name
    i64()  # available key
    for _ in range(i64()):
        string()
        i64()


def _fst_bytes_needed(f: BinaryIO) -> int | None:
    """Parse the OpenFst header at ``f``'s position; the offset the file must reach for the
    arrays the header announces (``const`` FSTs, also inside an ``olabel_lookahead`` FST), or
    None when the type's layout is not checked here (e.g. ``ngram``: Vosk reads those at load
    time and reports a short one itself)."""
    i32, i64, string = _reader(f)
    if i32() != _FST_MAGIC:
        raise ValueError("not an OpenFst file")
    fst_type, arc_type = string(), string()
    i32()  # version
    flags = i32()
    i64()  # properties
    i64()  # start
    states, arcs = i64(), i64()
    if flags & _FST_HAS_ISYMBOLS:
        _skip_symbols(f, i32, i64, string)
    if flags & _FST_HAS_OSYMBOLS:
        _skip_symbols(f, i32, i64, string)
    if fst_type.endswith("_lookahead"):  # an add-on FST: magic, then the FST it wraps
        if i32() != _ADDON_MAGIC:
            raise ValueError("bad lookahead add-on")
        return _fst_bytes_needed(f)
    if fst_type != "const" or arc_type not in _ARC_BYTES:
        return None
    if states < 0 or arcs < 0:
        raise ValueError(f"negative sizes ({states} states, {arcs} arcs)")
    at = f.tell()
    align = (lambda n: (n + 15) // 16 * 16) if flags & _FST_IS_ALIGNED else (lambda n: n)
    at = align(at) + states * _CONST_STATE_BYTES
    return align(at) + arcs * _ARC_BYTES[arc_type]


def _fst_problem(path: Path, rel: str) -> str | None:
    """Why an FST file of the model cannot be read, from its header and size (a cut-short
    decoding graph crashes the speech engine rather than failing cleanly)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            needed = _fst_bytes_needed(f)
    except _Short:
        return f"{rel} is truncated (it ends inside its header)"
    except (ValueError, struct.error) as exc:
        return f"{rel} is corrupt ({exc})"
    except OSError as exc:
        return f"{rel} cannot be read ({exc.strerror or exc})"
    if needed is not None and size < needed:
        return f"{rel} is truncated ({size} bytes, its header needs at least {needed})"
    return None


def _read_manifest(model: Path) -> list[dict[str, object]] | None:
    path = model / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        files = json.loads(path.read_text())["files"]
        if not isinstance(files, list):
            raise TypeError("files is not a list")
        return files
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"model {model}: its manifest {MANIFEST_NAME} is unreadable ({exc}); "
                         f"reinstall it: {_FIX}") from exc


def _manifest_problem(model: Path, files: list[dict[str, object]], *, hashes: bool) -> str | None:
    for entry in files:
        rel = str(entry["path"])
        size = _file_size(model / rel)
        if size is None:
            return f"{rel} is missing"
        if size != entry["size"]:
            return f"{rel} is truncated or changed ({size} bytes, {entry['size']} when installed)"
        if hashes and _sha256_file(model / rel) != entry["sha256"]:
            return f"{rel} is corrupt (sha256 differs from when installed)"
    return None


def model_problem(path: str | Path, *, verify_hashes: bool = False) -> str | None:
    """Why the model directory ``path`` cannot be used, or ``None`` if it is complete.

    Uses the install manifest when there is one (sizes; sha256 too with ``verify_hashes``),
    and always the structural check.
    """
    model = Path(path)
    if not model.is_dir():
        return "not a directory" if model.exists() else "no such directory"
    files = _read_manifest(model)
    if files is not None:
        problem = _manifest_problem(model, files, hashes=verify_hashes)
        if problem:
            return problem
    return _structure_problem(model)


def check_model_dir(path: str | Path, *, verify_hashes: bool = False) -> None:
    """Raise :class:`ModelError` (naming the file and the fix) unless ``path`` is a complete model."""
    problem = model_problem(path, verify_hashes=verify_hashes)
    if problem:
        raise ModelError(f"speech model {path} is not usable: {problem}; reinstall it: {_FIX}")


def verify_model_dir(path: str | Path) -> None:
    """Full check: like :func:`check_model_dir`, plus the sha256 of every file in the manifest."""
    check_model_dir(path, verify_hashes=True)


def dir_size_bytes(path: Path) -> int:
    """The bytes of every file under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- resolution -------------------------------------------------------------------------------

def _pick(root: Path, origin: str) -> Path:
    """The model at an explicitly named ``root`` (itself, or its first model subdirectory)."""
    if not root.exists():
        raise ModelError(f"speech model {root} ({origin}): no such directory; fix the path, or get a model: {_FIX}")
    found = _candidates(root)
    if not found:
        raise ModelError(f"speech model {root} ({origin}) is not a Vosk model directory "
                         f"(no am/, conf/, graph/); fix the path, or get a model: {_FIX}")
    for candidate in found:
        if model_problem(candidate) is None:
            return candidate
    raise ModelError(f"speech model {found[0]} ({origin}) is not usable: {model_problem(found[0])}; "
                     f"reinstall it: {_FIX}")


def resolve_model_dir(explicit: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                      cwd: Path | None = None) -> Path:
    """Find the model directory to use (order in the module docstring); raise :class:`ModelError`.

    An explicit directory or ``VOICESKILL_MODEL`` must be usable: they are never skipped. In
    ``./models`` and the user directory the first complete model wins; broken ones are skipped
    with a warning, and reported if nothing else is found.
    """
    env = os.environ if env is None else env
    if explicit is not None and str(explicit) != "":
        return _pick(Path(explicit).expanduser(), "--model")
    if env.get(ENV_VAR, "").strip():
        return _pick(Path(env[ENV_VAR].strip()).expanduser(), f"${ENV_VAR}")
    roots = [local_models_dir(cwd), user_models_dir(env)]
    broken: list[tuple[Path, str]] = []
    for root in roots:
        for candidate in _candidates(root):
            problem = model_problem(candidate)
            if problem is None:
                for path, why in broken:
                    log.warning("skipping incomplete speech model %s (%s)", path, why)
                return candidate
            broken.append((candidate, problem))
    if broken:
        path, problem = broken[0]
        raise ModelError(f"speech model {path} is not usable: {problem}; reinstall it: {_FIX}")
    raise ModelError(f"no speech model found (looked in ${ENV_VAR}, {roots[0]}, {roots[1]}); run {_FIX}")


def installed_models(*, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                     verify_hashes: bool = False) -> list[ModelInfo]:
    """Every model directory in ``./models`` and the user directory, complete or not."""
    env = os.environ if env is None else env
    infos = []
    seen: set[Path] = set()
    for root in (local_models_dir(cwd), user_models_dir(env)):
        for path in _candidates(root):
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            try:
                problem = model_problem(path, verify_hashes=verify_hashes)
            except ModelError as exc:
                problem = str(exc)
            infos.append(ModelInfo(name=path.name, path=path, size_bytes=dir_size_bytes(path),
                                   complete=problem is None, problem=problem,
                                   has_manifest=(path / MANIFEST_NAME).exists()))
    return infos


# --- installing -------------------------------------------------------------------------------

def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(model: Path, *, source: str) -> None:
    """Record path, size and sha256 of every file under ``model`` in :data:`MANIFEST_NAME`."""
    files = [{"path": p.relative_to(model).as_posix(), "size": p.stat().st_size, "sha256": _sha256_file(p)}
             for p in iter_model_files(model)]
    manifest = {"version": 1, "source": source, "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "files": files}
    (model / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")


def _check_name(name: str) -> str:
    if not name or name.startswith(".") or "/" in name or "\\" in name or name in ("..",):
        raise ModelError(f"invalid model name {name!r}; give a plain folder name with --name")
    return name


def _model_roots_in_zip(names: list[str]) -> list[str]:
    """Prefixes (``""`` or ``"dir/.../"``) under which the archive holds a model's acoustic model."""
    roots = set()
    for name in names:
        if name.endswith("/"):
            continue
        path = PurePosixPath(name)
        if path.name == "final.mdl":
            parent = path.parent.parent if path.parent.name == "am" else path.parent
            roots.add("" if str(parent) == "." else f"{parent}/")
    return sorted(roots, key=lambda r: (not r.startswith("assets/"), r.count("/"), r))


def _extract_zip(archive: Path, into: Path, dest_root: Path) -> str:
    """Extract the one model in ``archive`` into ``into``; return its name (for AARs: the file stem).

    Refused before anything is written: an unpacked size above :data:`MAX_MODEL_BYTES` or the
    free space, or above :data:`MAX_ZIP_RATIO` times the archive (a zip bomb). zipfile never
    unpacks more than a member's declared size."""
    try:
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            roots = _model_roots_in_zip(names)
            if not roots:
                raise ModelError(f"{archive} holds no Vosk model (no am/final.mdl inside); "
                                 f"give a model zip, AAR or folder")
            root = roots[0]
            if len(roots) > 1 and not root.startswith("assets/"):
                raise ModelError(f"{archive} holds several models ({', '.join(r or '/' for r in roots)}); "
                                 f"unpack it and install one folder: voiceskill model install DIR")
            members = [i for i in z.infolist() if i.filename.startswith(root) and not i.is_dir()]
            total = sum(i.file_size for i in members)
            packed = max(1, archive.stat().st_size)
            if total > MAX_ZIP_RATIO * packed and total > RATIO_CHECKED_ABOVE_BYTES:
                raise ModelError(f"{archive} would unpack to {total / 1e6:.0f} MB from {packed / 1e6:.1f} MB "
                                 f"({total // packed}x; model zips are under {MAX_ZIP_RATIO}x): "
                                 f"a zip bomb or a damaged file; not installing it")
            _check_unpacked_size(total, str(archive), dest_root)
            for info in z.infolist():
                if not info.filename.startswith(root) or info.is_dir():
                    continue
                rel = PurePosixPath(info.filename[len(root):])
                if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                    raise ModelError(f"{archive}: unsafe path {info.filename!r} in archive; not installing it")
                target = into.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, target.open("wb") as dst:  # reading to the end checks the CRC
                    shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ModelError(f"{archive} is a damaged zip ({exc}); download it again") from exc
    if archive.suffix.lower() == ".aar" or root.startswith("assets/"):
        return archive.stem
    return PurePosixPath(root).name if root else archive.stem


_STALE_TEMP_S = 6 * 3600


def _hold_lock(path: Path) -> int:
    """Take an exclusive lock on ``path`` (a temporary file or folder of a running install) and
    return the descriptor holding it; the lock dies with this process, however it ends."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def _owner_is_dead(path: Path) -> bool:
    """True when no running install holds ``path``'s lock (its process ended or was killed).
    Temporaries of older versions (no lock) count as dead only after :data:`_STALE_TEMP_S`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return time.time() - path.lstat().st_mtime > _STALE_TEMP_S
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a running install holds it
    finally:
        os.close(fd)
    return True


def remove_stale_temps(dest_root: Path) -> int:
    """Remove temporary files and folders left in ``dest_root`` by installs or downloads that were
    killed (SIGKILL, power loss); those of installs still running are kept. Returns how many
    were removed. Done at the start of every ``voiceskill model`` command."""
    removed = 0
    try:
        found = list(dest_root.glob(_TMP_PREFIX + "*"))
    except OSError:
        return 0
    for path in found:
        try:
            if _owner_is_dead(path):
                log.info("removing %s, left by an install that did not finish", path)
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed += 1
        except OSError as exc:
            log.debug("cannot remove %s: %s", path, exc)
    return removed


def _check_unpacked_size(total: int, what: str, dest_root: Path) -> None:
    if total > MAX_MODEL_BYTES:
        raise ModelError(f"{what} would unpack to {total / 1e9:.1f} GB, more than any speech model "
                         f"({MAX_MODEL_BYTES / 1e9:.0f} GB); not installing it")
    try:
        free = shutil.disk_usage(dest_root).free
    except OSError:
        return
    if total > free:
        raise ModelError(f"{what} needs {total / 1e6:.0f} MB but {dest_root} has {free / 1e6:.0f} MB free; "
                         f"free some space or use --dest")


def _copy_model_folder(src: Path, into: Path, dest_root: Path) -> None:
    """Copy a model folder: regular files and folders only, never a link that leads out of the
    model (or to anything but a regular file), no device, FIFO or socket; bounded in size."""
    root = src.resolve()
    plan: list[tuple[Path, Path]] = []
    total = 0
    for folder, dirs, files in os.walk(src, followlinks=False):
        here = Path(folder)
        for name in sorted(dirs + files):
            path = here / name
            rel = path.relative_to(src).as_posix()
            if name == MANIFEST_NAME and here == src:
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = path.resolve()
                if not target.is_relative_to(root):
                    raise ModelError(f"{src}: {rel} is a link out of the model (to {os.readlink(path)}); "
                                     f"copy the real file in, then install again")
                st = target.stat()
                if stat.S_ISDIR(st.st_mode):
                    raise ModelError(f"{src}: {rel} is a link to a folder; copy the real folder in, "
                                     f"then install again")
                real = target
            else:
                real = path
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise ModelError(f"{src}: {rel} is not a regular file (a device, FIFO or socket); "
                                 f"a model holds only files")
            total += st.st_size
            plan.append((real, into / rel))
    _check_unpacked_size(total, str(src), dest_root)
    for real, target in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        with real.open("rb") as fsrc, target.open("xb") as fdst:
            # never more than lstat said: a file that grows while copied cannot fill the disk
            left = real.stat().st_size
            while left > 0 and (block := fsrc.read(min(left, 1 << 20))):
                fdst.write(block)
                left -= len(block)


def install_model(source: str | Path, *, dest_dir: str | Path | None = None, name: str | None = None,
                  force: bool = False, origin: str | None = None) -> Path:
    """Install a model from a zip, an Android AAR or a folder into ``dest_dir`` (default: the user dir).

    Atomic: unpacked into a hidden temporary directory in ``dest_dir``, checked, given a
    manifest, then renamed into place. On any failure (or Ctrl-C) nothing is left behind. An
    existing complete model of the same name is only replaced with ``force``; an incomplete one
    is always replaced. Returns the installed model directory.
    """
    src = Path(source).expanduser()
    dest_root = Path(dest_dir).expanduser() if dest_dir is not None else user_models_dir()
    if not src.exists():
        raise ModelError(f"{src}: no such file or directory; give a model zip, AAR or folder")
    if not src.is_dir() and not zipfile.is_zipfile(src):
        raise ModelError(f"{src} is not a zip, AAR or folder (or it is damaged); give a Vosk model zip (e.g. "
                         f"vosk-model-small-en-us-0.15.zip), an AAR or an unpacked model folder")
    try:
        dest_root.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(dest_root)
        tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=dest_root))
    except OSError as exc:
        raise ModelError(f"cannot write to {dest_root} ({exc.strerror or exc}); "
                         "choose another place with --dest") from exc
    staged = tmp / "model"
    lock = -1
    try:
        lock = _hold_lock(tmp)
        if src.is_dir():
            found = _candidates(src)
            if not found:
                raise ModelError(f"{src} is not a Vosk model folder (no am/, conf/, graph/); "
                                 f"give the folder that holds am/ and conf/")
            if len(found) > 1:
                raise ModelError(f"{src} holds several models; install one of them: "
                                 f"{', '.join(p.name for p in found)}")
            staged.mkdir()
            _copy_model_folder(found[0], staged, dest_root)
            default_name = found[0].name
        else:
            staged.mkdir()
            default_name = _extract_zip(src, staged, dest_root)
        final_name = _check_name(name or default_name)
        problem = _structure_problem(staged)
        if problem:
            raise ModelError(f"{src} does not hold a complete model: {problem}; get a fresh copy of it")
        write_manifest(staged, source=origin or str(src.resolve()))
        target = dest_root / final_name
        if target.exists() or target.is_symlink():
            try:
                complete = model_problem(target) is None
            except ModelError:  # unreadable manifest: broken, replace it
                complete = False
            if complete and not force:
                raise ModelError(f"a complete model is already installed at {target}; "
                                 f"use --force to replace it, or --name to install beside it")
            old = tmp / "old"
            os.replace(target, old)  # moved aside, deleted with tmp below
        os.replace(staged, target)
        log.info("installed speech model %s from %s", target, origin or src)
        return target
    except OSError as exc:
        raise ModelError(f"installing {src} into {dest_root} failed ({exc.strerror or exc}); "
                         f"check free space and permissions, or use --dest") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if lock >= 0:
            os.close(lock)


class _Watchdog:
    """Ends a download at its overall deadline, even while a read is blocked (a server that
    trickles headers or body): at the deadline every socket it was given is shut down."""

    def __init__(self, deadline_s: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(deadline_s, self._expire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            if sock is not None:
                self._sockets.append(sock)
            if self.expired:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket | None) -> None:
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shut(sock)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def opener(self) -> urllib.request.OpenerDirector:
        """A urllib opener whose connections report their sockets to this watchdog."""
        watchdog = self

        class Http(http.client.HTTPConnection):
            def connect(self) -> None:
                super().connect()
                watchdog.watch(self.sock)

        class Https(http.client.HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                watchdog.watch(self.sock)

        class HttpHandler(urllib.request.HTTPHandler):
            def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
                return self.do_open(Http, req)

        class HttpsHandler(urllib.request.HTTPSHandler):
            def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
                return self.do_open(Https, req, context=self._context)  # type: ignore[attr-defined]

        return urllib.request.build_opener(HttpHandler, HttpsHandler)


class _Stalled(Exception):
    pass


def _fetch(url: str, into: Path, *, timeout_s: float, deadline_s: float,
           progress: ProgressFn | None) -> tuple[str, int]:
    """Stream ``url`` into the file ``into``; return (sha256, bytes).

    ``timeout_s`` bounds connecting and every read; the download also fails when it gets less
    than :data:`STALL_MIN_BYTES_PER_S` on average over any ``timeout_s`` window (a server that
    trickles bytes), and when it is not done within ``deadline_s`` in all."""
    digest = hashlib.sha256()
    done = 0
    window_s = max(timeout_s, 1.0)
    request = urllib.request.Request(url, headers={"User-Agent": "voiceskill"})
    with _Watchdog(deadline_s) as watchdog:
        try:
            with watchdog.opener().open(request, timeout=timeout_s) as response, into.open("wb") as out:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if progress:
                    progress(0, total)
                window_start, window_bytes = time.monotonic(), 0
                while True:
                    block = response.read1(1 << 16)  # returns what has arrived: never waits to fill
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    window_bytes += len(block)
                    now = time.monotonic()
                    if now - window_start >= window_s:
                        if window_bytes < STALL_MIN_BYTES_PER_S * (now - window_start):
                            raise _Stalled(f"{window_bytes} bytes in the last {now - window_start:.0f} s")
                        window_start, window_bytes = now, 0
                    if progress:
                        progress(done, total)
        except _Stalled as exc:
            raise ModelError(f"download of {url} stalled ({exc}); check the connection and try again, "
                             f"or install a model file you have: voiceskill model install FILE") from None
        except Exception:
            if watchdog.expired:
                raise ModelError(f"download of {url} did not finish within {deadline_s:g} s ({done} bytes "
                                 f"so far); try again (--deadline SECONDS), or install a model file you "
                                 f"have: voiceskill model install FILE") from None
            raise
        if watchdog.expired:
            raise ModelError(f"download of {url} did not finish within {deadline_s:g} s; try again "
                             f"(--deadline SECONDS), or install a model file you have: voiceskill model install FILE")
    if total is not None and done != total:
        raise ModelError(f"download of {url} was cut off ({done} of {total} bytes); try again, "
                         f"or install a model file you have: voiceskill model install FILE")
    return digest.hexdigest(), done


def download_model(url: str = DEFAULT_MODEL_URL, *, sha256: str | None = None,
                   expected_size_bytes: int | None = None, dest_dir: str | Path | None = None,
                   name: str | None = None, force: bool = False, timeout_s: float = 30.0,
                   deadline_s: float = DEFAULT_DEADLINE_S, progress: ProgressFn | None = None) -> Path:
    """Download a model zip and install it atomically (see :func:`install_model`).

    For :data:`DEFAULT_MODEL_URL` the known checksum and size are used unless given. Without a
    checksum the zip's member CRCs and the model structure are still checked. The zip is
    written to a hidden temporary file in ``dest_dir`` (locked while this runs, see
    :func:`remove_stale_temps`) and removed whatever happens. ``timeout_s`` bounds every network
    wait and the stall window, ``deadline_s`` the whole download.
    """
    if url == DEFAULT_MODEL_URL:
        sha256 = sha256 or DEFAULT_MODEL_SHA256
        expected_size_bytes = expected_size_bytes or DEFAULT_MODEL_SIZE_BYTES
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ModelError(f"--sha256 {sha256!r} is not a sha256 (64 hex digits); copy it again")
    else:
        log.warning("no checksum for %s: checking only the zip's integrity and the model's structure", url)
    dest_root = Path(dest_dir).expanduser() if dest_dir is not None else user_models_dir()
    try:
        dest_root.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(dest_root)
        fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".zip", dir=dest_root)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise ModelError(f"cannot write to {dest_root} ({exc.strerror or exc}); "
                         "choose another place with --dest") from exc
    tmp = Path(tmp_name)
    try:
        try:
            got_sha, got_bytes = _fetch(url, tmp, timeout_s=timeout_s, deadline_s=deadline_s,
                                        progress=progress)
        except ModelError:
            raise
        except urllib.error.HTTPError as exc:
            raise ModelError(f"download of {url} failed (HTTP {exc.code} {exc.reason}); check the URL, or "
                             f"install a model file you have: voiceskill model install FILE") from exc
        except (urllib.error.URLError, OSError, ValueError, EOFError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ModelError(f"download of {url} failed ({reason}); check the connection, or install "
                             f"a model file you have: voiceskill model install FILE") from exc
        except Exception as exc:  # http.client.HTTPException and friends
            raise ModelError(f"download of {url} failed ({type(exc).__name__}: {exc}); try again, or "
                             f"install a model file you have: voiceskill model install FILE") from exc
        if expected_size_bytes is not None and got_bytes != expected_size_bytes:
            raise ModelError(f"download of {url} has {got_bytes} bytes, expected {expected_size_bytes}; "
                             f"try again, or install a model file you have: voiceskill model install FILE")
        if sha256 is not None and got_sha != sha256:
            raise ModelError(f"checksum mismatch for {url} (sha256 {got_sha}, expected {sha256}); the "
                             f"download is corrupt: try again, or install a model file: voiceskill model install FILE")
        return install_model(tmp, dest_dir=dest_root, name=name or _zip_default_name(tmp, url),
                             force=force, origin=url)
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)


def _zip_default_name(archive: Path, url: str) -> str | None:
    """Name for a downloaded zip: its model folder, else the URL's file stem."""
    try:
        with zipfile.ZipFile(archive) as z:
            roots = _model_roots_in_zip(z.namelist())
    except zipfile.BadZipFile as exc:
        raise ModelError(f"download of {url} is not a zip ({exc}); check the URL") from exc
    if roots and roots[0] and not roots[0].startswith("assets/"):
        return PurePosixPath(roots[0]).name
    stem = PurePosixPath(urllib.parse.urlparse(url).path).stem
    return stem or None


def iter_model_files(model: Path) -> Iterator[Path]:
    """Files of a model directory, without the manifest."""
    return (p for p in sorted(model.rglob("*")) if p.is_file() and p.name != MANIFEST_NAME)
