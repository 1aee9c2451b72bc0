"""``voiceskill config show|init|path``: the effective configuration, a commented default file."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from voiceskill.config import as_dict, default_config_path, load_config, render_default_file, to_toml
from voiceskill.errors import ConfigError
from voiceskill.files import replacing


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("config", parents=[common], help="show or create the configuration file",
                       description="Show the effective configuration (file, environment, "
                                   "defaults) or write a commented default config file.")
    actions = p.add_subparsers(dest="config_action", metavar="ACTION", required=True)

    show = actions.add_parser("show", parents=[common],
                              help="print every setting and where its value came from")
    show.add_argument("--config", type=Path, metavar="FILE",
                      help="config file (default: the per-user config file)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=_show)

    init = actions.add_parser("init", parents=[common],
                              help="write a commented config file with every key and its default")
    init.add_argument("--path", type=Path, metavar="FILE",
                      help="where to write it (default: the per-user config file)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=_init)

    where = actions.add_parser("path", parents=[common], help="print the config file's path")
    where.add_argument("--config", type=Path, metavar="FILE", help=argparse.SUPPRESS)
    where.set_defaults(func=_path)


def _show(args: argparse.Namespace) -> int:
    path = args.config or default_config_path()
    config, source = load_config(args.config, os.environ, {})
    values = as_dict(config)
    if args.json:
        out = {"file": str(path), "file_exists": path.is_file(),
               "config": {sec: {key: {"value": value, "source": source[f"{sec}.{key}"]}
                                for key, value in keys.items()}
                          for sec, keys in values.items()}}
        print(json.dumps(out, indent=2))
        return 0
    state = "" if path.is_file() else " (not found: defaults apply)"
    print(f"# config file: {path}{state}")
    for sec, keys in values.items():
        print(f"\n[{sec}]")
        width = max(len(k) for k in keys) if keys else 0
        for key, value in keys.items():
            shown = "(unset)" if value is None else to_toml(value)
            print(f"{key.ljust(width)} = {shown.ljust(24)} # {source[f'{sec}.{key}']}")
    return 0


def _init(args: argparse.Namespace) -> int:
    path: Path = args.path or default_config_path()
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; give the config file's path, e.g. "
                          f"--path {path / 'config.toml'}")
    if path.exists() and not args.force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it "
                          f"(or --path FILE to write elsewhere)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp:  # a full disk leaves the old file, never a cut-off one
            tmp.write_text(render_default_file(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path} ({exc.strerror}); choose another --path") from None
    print(f"wrote {path}")
    return 0


def _path(args: argparse.Namespace) -> int:
    print(args.config or default_config_path())
    return 0
