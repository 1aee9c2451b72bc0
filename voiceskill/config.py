"""The configuration file: one TOML section per pipeline stage, loaded into one typed :class:`AppConfig`.

The dataclasses live in :mod:`voiceskill.settings` (which imports no stage); this module only
loads them. The loader is generic over dataclass fields, so a section can add, rename or retype a
field without touching this module: the field list, types, defaults and docs all come from the
dataclass.

Precedence (highest first): flags (``overrides``) > environment
(``VOICESKILL_<SECTION>_<KEY>``) > the file > the dataclass defaults. Every value's origin is
recorded ("default", "file:<path>:<line>", "env:VOICESKILL_...", "flag:--...").

Field docs (for ``voiceskill config init``) come from ``field(metadata={"doc": ...})`` or, failing
that, from a ``name: text`` line in the dataclass docstring.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import inspect
import json
import logging
import math
import operator
import os
import re
import textwrap
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from voiceskill.errors import ConfigError, VoiceskillError
from voiceskill.settings import AppConfig

log = logging.getLogger(__name__)

APP_NAME = "voiceskill"
ENV_PREFIX = "VOICESKILL_"
CONFIG_FILENAME = "config.toml"

_Schema = TypeVar("_Schema")


# --------------------------------------------------------------------------------------------
# Where the file lives


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/voiceskill/config.toml`` (platformdirs' user config dir)."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP_NAME / CONFIG_FILENAME
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILENAME


# --------------------------------------------------------------------------------------------
# Schema introspection


def sections(schema: type = AppConfig) -> dict[str, type]:
    """Section name → the section's dataclass, in declaration order."""
    hints = typing.get_type_hints(schema)
    return {f.name: hints[f.name] for f in dataclasses.fields(schema)}


def field_types(cls: type) -> dict[str, Any]:
    """Field name → resolved type annotation, for an (init) dataclass field."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def field_docs(cls: type) -> dict[str, str]:
    """Field name → one-paragraph doc (metadata "doc", else the docstring's ``name: text`` entry).

    A docstring entry is a line ``name: text`` (name = a field) plus any following lines that are
    indented deeper than it.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    from_doc: dict[str, str] = {}
    current, indent = "", 0
    for raw in (cls.__doc__ or "").splitlines():
        line = raw.strip()
        depth = len(raw) - len(raw.lstrip())
        m = re.match(r"^([a-z_][a-z0-9_]*)\s*:\s*(.*)$", line)
        if m and m.group(1) in names:
            current, indent = m.group(1), depth
            from_doc[current] = m.group(2)
        elif current and line and depth > indent:
            from_doc[current] += " " + line
        else:
            current = ""
    from_doc.update(_attribute_docstrings(cls))
    return {f.name: str(f.metadata.get("doc") or from_doc.get(f.name, "")).strip()
            for f in dataclasses.fields(cls) if f.init}


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """Docs written as a string literal right after the field (``x: int = 1`` then ``\"\"\"doc\"\"\"``)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"config field {f.name} has no default")


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else functools.reduce(operator.or_, rest)), True
    return tp, False


def describe_type(tp: Any) -> str:
    """Human words for a field type, used in error messages and `config init`."""
    inner, optional = _unwrap_optional(tp)
    origin = typing.get_origin(inner)
    if origin is Literal:
        text = "one of " + ", ".join(repr(a) for a in typing.get_args(inner))
    elif origin is tuple:
        text = "a list of strings"
    else:
        text = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
                Path: "a path"}.get(inner, getattr(inner, "__name__", str(inner)))
    return text + (" (or unset)" if optional else "")


# --------------------------------------------------------------------------------------------
# Values


# Ranges of numeric settings, "section.key" -> (lowest, highest, unit). A stage's dataclass field
# may declare its own with field(metadata={"range": (lo, hi, unit)}), which wins. Numbers without
# an entry still get the rule of their name's unit (_ms, _s, _hz, _db: see _unit_range) and every
# float must be finite (TOML and the environment both accept nan and inf).
LIMITS: dict[str, tuple[float, float, str]] = {
    "audio.rate_hz": (8_000, 192_000, "Hz"),
    "audio.block_ms": (5, 1_000, "ms"),
    "audio.queue_max_chunks": (1, 100_000, ""),
    "trigger.gpio_pin": (0, 53, "(BCM number)"),
    "endpoint.noise_percentile": (0, 100, "%"),
    "denoise.rate_hz": (8_000, 48_000, "Hz"),
    "denoise.frame_ms": (5, 200, "ms"),
    "denoise.hop_ms": (1, 200, "ms"),
    "denoise.oversubtract": (0, 10, ""),
    "denoise.dd_alpha": (0, 1, ""),
    "denoise.noise_bias": (0, 10, ""),
    "denoise.power_smoothing": (0, 1, ""),
    "recognizer.rate_hz": (8_000, 48_000, "Hz"),
    "recognizer.max_alternatives": (0, 100, ""),
    "recognizer.file_chunk_ms": (10, 10_000, "ms"),
    "recognizer.more_passes_below": (0, 1, ""),
    "router.min_confidence": (0, 1, ""),
    "router.score_at_half_confidence": (0.01, 100, ""),
    "router.off_subject_penalty": (0, 100, ""),
    "router.other_subject_penalty": (0, 100, ""),
    "router.min_subject_confidence": (0, 1, ""),
    "router.subject_bonus": (0, 100, ""),
    "router.confidence_weight": (0, 1, ""),
    "router.example_weight": (0, 100, ""),
    "router.meta_subject_penalty": (0, 100, ""),
    "router.meta_uncovered_penalty": (0, 100, ""),
    "router.min_word_confidence": (0, 1, ""),
    "router.unknown_penalty": (0, 100, ""),
    "router.max_phrase_gap": (0, 10, "words"),
    "router.phrase_gap_discount": (0, 1, ""),
    "router.semantic_rescue": (0, 1, ""),
    "router.semantic_margin": (0, 1, ""),
    "router.semantic_veto": (0, 1, ""),
    "router.ranker_min_confidence": (0, 1, ""),
    "decision.learned_min_confidence": (0, 1, ""),
    "router.semantic_veto_heard": (0, 1, ""),
    "router.veto_overruled_lead": (0, 100, ""),
    "router.semantic_floor": (0, 1, ""),
    "router.semantic_bonus": (0, 100, ""),
    "speaker.rate_wpm": (80, 450, "words per minute"),
    "speaker.volume": (0, 1, ""),
    "speaker.synth_timeout_s": (1, 600, "s"),
    "speaker.block_ms": (5, 1_000, "ms"),
    "speaker.latency_ms": (1, 2_000, "ms"),
    "wake.min_confidence": (0, 1, ""),
    "service.stop_timeout_s": (1, 3_600, "s"),
}


def _unit_range(key: str) -> tuple[float, float, str] | None:
    """The range a number gets from its name's unit when LIMITS has no entry."""
    if key.endswith("_ms"):
        return (0, 3_600_000, "ms")
    if key.endswith("_s"):
        return (0, 3_600, "s")
    if key.endswith("_hz"):
        return (0, 192_000, "Hz")
    if key.endswith("_db"):
        return (-150, 150, "dB")
    return None


def value_range(cls: type, section: str, key: str) -> tuple[float, float, str] | None:
    """The allowed (lowest, highest, unit) of a numeric setting; None = any finite number."""
    for f in dataclasses.fields(cls):
        if f.name == key and "range" in f.metadata:
            return tuple(f.metadata["range"])
    return LIMITS.get(f"{section}.{key}") or _unit_range(key)


def check_range(cls: type, section: str, key: str, value: object) -> None:
    """Raise _BadValue when a number is not finite or out of its range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise _RangeError(f"a finite number, got {value!r}")
    bounds = value_range(cls, section, key)
    if bounds is not None:
        lo, hi, unit = bounds
        if not lo <= value <= hi:
            unit = f" {unit}" if unit else ""
            raise _RangeError(f"a number from {lo:g} to {hi:g}{unit}, got {value!r}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class _BadValue(Exception):
    """A value does not fit the field's type; the message is what was expected."""


class _RangeError(_BadValue):
    """A number of the right type out of its range; the message holds the value too."""


class EnvConfigError(ConfigError):
    """A ``VOICESKILL_*`` environment variable is wrong (the fix is in the environment, not a file)."""

    def __init__(self, var: str, message: str) -> None:
        super().__init__(message)
        self.var = var


def coerce(tp: Any, value: object, *, from_text: bool = False) -> Any:
    """Convert a TOML value (or, with ``from_text``, an environment string) to type ``tp``."""
    inner, optional = _unwrap_optional(tp)
    if optional and (value is None or (isinstance(value, str) and value.strip().lower() in ("", "none"))):
        return None
    origin = typing.get_origin(inner)
    if origin is Literal:
        allowed = typing.get_args(inner)
        for a in allowed:
            if value == a or (from_text and isinstance(a, (int, float)) and not isinstance(a, bool)
                              and str(a) == str(value).strip()):
                return a
        raise _BadValue(describe_type(tp))
    if origin is tuple:
        if from_text and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise _BadValue(describe_type(tp))
    if inner is bool:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _BadValue(describe_type(tp))
    if inner is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            return int(value)
        raise _BadValue(describe_type(tp))
    if inner is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_text and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _BadValue(describe_type(tp))
    if inner is str:
        if isinstance(value, str):
            return value
        raise _BadValue(describe_type(tp))
    if inner is Path:
        if isinstance(value, (str, Path)) and str(value).strip():
            return Path(os.path.expandvars(str(value))).expanduser()
        raise _BadValue(describe_type(tp))
    raise TypeError(f"unsupported config field type {tp!r}")


def to_toml(value: object) -> str:
    """A TOML literal for a config value (``None`` has no TOML form: callers comment it out)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(to_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def to_plain(value: object) -> object:
    """A JSON-able form of a config value."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


# --------------------------------------------------------------------------------------------
# Finding line numbers (tomllib does not report them)


_SECTION_RE = re.compile(r"^\s*\[\s*([A-Za-z0-9_\-\"' .]+?)\s*\]\s*(?:#.*)?$")
_KEY_RE = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-.]+)\s*=")


def _key_line(text: str, section: str, key: str | None) -> int:
    """1-based line of ``key`` in ``[section]`` (or of the section header when key is None); 0 if not found."""
    current = ""
    for no, line in enumerate(text.splitlines(), 1):
        m = _SECTION_RE.match(line)
        if m:
            current = m.group(1).strip().strip("\"'")
            if key is None and current == section:
                return no
            continue
        m = _KEY_RE.match(line)
        if not m:
            continue
        name = m.group(1).strip("\"'")
        full = f"{current}.{name}" if current else name
        if key is None and (full.startswith(section + ".") or full == section):
            return no
        if key is not None and full == f"{section}.{key}":
            return no
    return 0


def _where(path: Path, line: int) -> str:
    return f"{path} line {line}" if line else str(path)


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{hint}known: {', '.join(known)}"


# --------------------------------------------------------------------------------------------
# Loading


def read_file(path: Path) -> tuple[dict[str, Any], str]:
    """Parse a TOML config file; a syntax error becomes one ConfigError line with its line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist: create it with "
                          f"`voiceskill config init --path {path}`") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory; give the path of a TOML file, "
                          f"e.g. {path / CONFIG_FILENAME}") from None
    except PermissionError:
        raise ConfigError(f"cannot read config file {path} (permission denied); check its permissions") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (bad byte at offset {exc.start}); "
                          f"save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path} ({exc.strerror or exc})") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m:
            msg = msg[:m.start()].strip()
            raise ConfigError(f"{path} line {m.group(1)}: TOML syntax error: {msg} (column "
                              f"{m.group(2)}); fix that line") from None
        raise ConfigError(f"{path}: TOML syntax error: {msg}; fix the file") from None


@overload
def load_config(path: Path | None, env: Mapping[str, str], overrides: Mapping[str, object],
                *, flags: Mapping[str, str] | None = None) -> tuple[AppConfig, dict[str, str]]: ...


@overload
def load_config(path: Path | None, env: Mapping[str, str], overrides: Mapping[str, object],
                *, schema: type[_Schema], flags: Mapping[str, str] | None = None) -> tuple[_Schema, dict[str, str]]: ...


def load_config(path: Path | None, env: Mapping[str, str], overrides: Mapping[str, object],
                *, schema: type = AppConfig, flags: Mapping[str, str] | None = None) -> tuple[Any, dict[str, str]]:
    """Build the effective config and the provenance of every ``section.key``.

    path: the config file; None = the default location (a missing default file is fine).
    env: environment variables (``VOICESKILL_<SECTION>_<KEY>`` are used; others ignored).
    overrides: command-line values as ``{"section.key": value}`` (None values are ignored).
    flags: the command-line flag of an override whose flag is not ``--key`` (``{"wake.phrase":
        "--wake-phrase"}``), for messages and provenance.
    schema: the top-level dataclass (AppConfig; tests may pass their own).
    """
    secs = sections(schema)
    values: dict[str, dict[str, Any]] = {name: {} for name in secs}
    source: dict[str, str] = {}
    for name, cls in secs.items():
        for f in dataclasses.fields(cls):
            if f.init:
                values[name][f.name] = _default(f)
                source[f"{name}.{f.name}"] = "default"

    file = path if path is not None else default_config_path(env)
    if path is not None or file.is_file():
        _apply_file(file, secs, values, source)
    _apply_env(env, secs, values, source)
    _apply_overrides(overrides, secs, values, source, flags or {})

    built: dict[str, Any] = {}
    for name, cls in secs.items():
        try:
            built[name] = cls(**values[name])
        except (TypeError, ValueError, VoiceskillError) as exc:  # the stage's own validation
            origins = sorted({source[f"{name}.{k}"] for k in values[name]} - {"default"})
            raise ConfigError(f"[{name}] {exc} (values set in: {', '.join(origins) or 'defaults'})") from None
    return schema(**built), source


def _apply_file(path: Path, secs: dict[str, type], values: dict[str, dict[str, Any]],
                source: dict[str, str]) -> None:
    data, text = read_file(path)
    for sec_name, table in data.items():
        if sec_name not in secs:
            line = _key_line(text, sec_name, None)
            raise ConfigError(f"{_where(path, line)}: unknown section [{sec_name}] "
                              f"({_suggest(sec_name, list(secs))})")
        if not isinstance(table, dict):
            line = _key_line(text, sec_name, None)
            raise ConfigError(f"{_where(path, line)}: {sec_name} must be a section "
                              f"([{sec_name}] followed by key = value lines)")
        types_ = field_types(secs[sec_name])
        for key, raw in table.items():
            line = _key_line(text, sec_name, key)
            where = _where(path, line)
            if key not in types_:
                raise ConfigError(f"{where}: {sec_name}.{key}: unknown key "
                                  f"({_suggest(key, list(types_))})")
            try:
                values[sec_name][key] = coerce(types_[key], raw)
                check_range(secs[sec_name], sec_name, key, values[sec_name][key])
            except _RangeError as exc:
                raise ConfigError(f"{where}: {sec_name}.{key}: expected {exc}") from None
            except _BadValue as exc:
                raise ConfigError(f"{where}: {sec_name}.{key}: expected {exc}, got {_show(raw)}") from None
            source[f"{sec_name}.{key}"] = f"file:{path}:{line}"


def _show(raw: object) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, dict):
        return "a table"
    return repr(raw)


def env_var(section: str, key: str) -> str:
    """The environment variable for ``section.key``, e.g. VOICESKILL_SPEAKER_RATE_WPM."""
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def _apply_env(env: Mapping[str, str], secs: dict[str, type], values: dict[str, dict[str, Any]],
               source: dict[str, str]) -> None:
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX):]
        sec_name = next((s for s in secs if rest.startswith(s.upper() + "_")), None)
        if sec_name is None:
            continue  # e.g. VOICESKILL_STRICT: not a config variable
        types_ = field_types(secs[sec_name])
        key = rest[len(sec_name) + 1:].lower()
        if key not in types_:
            known = [env_var(sec_name, k) for k in types_]
            raise EnvConfigError(var, f"environment {var}: unknown key {sec_name}.{key} "
                                      f"({_suggest(env_var(sec_name, key), known)}); unset it")
        try:
            values[sec_name][key] = coerce(types_[key], env[var], from_text=True)
            check_range(secs[sec_name], sec_name, key, values[sec_name][key])
        except _RangeError as exc:
            raise EnvConfigError(var, f"environment {var}: {sec_name}.{key}: expected {exc}; "
                                      f"fix or unset it") from None
        except _BadValue as exc:
            raise EnvConfigError(var, f"environment {var}: {sec_name}.{key}: expected {exc}, "
                                      f"got {env[var]!r}; fix or unset it") from None
        source[f"{sec_name}.{key}"] = f"env:{var}"


def _apply_overrides(overrides: Mapping[str, object], secs: dict[str, type],
                     values: dict[str, dict[str, Any]], source: dict[str, str],
                     flags: Mapping[str, str]) -> None:
    for dotted, value in overrides.items():
        if value is None:
            continue
        sec_name, _, key = dotted.partition(".")
        if sec_name not in secs or key not in field_types(secs[sec_name]):
            raise ValueError(f"override for unknown config key {dotted!r}")  # a programming error
        flag = flags.get(dotted) or "--" + key.replace("_", "-")
        try:
            values[sec_name][key] = coerce(field_types(secs[sec_name])[key], value,
                                           from_text=isinstance(value, str))
            check_range(secs[sec_name], sec_name, key, values[sec_name][key])
        except _RangeError as exc:
            raise ConfigError(f"{flag}: expected {exc}") from None
        except _BadValue as exc:
            raise ConfigError(f"{flag}: expected {exc}, got {value!r}") from None
        source[dotted] = f"flag:{flag}"


# --------------------------------------------------------------------------------------------
# Rendering


def as_dict(config: object) -> dict[str, dict[str, object]]:
    """``{section: {key: value}}`` with JSON-able values."""
    return {name: {f.name: to_plain(getattr(getattr(config, name), f.name))
                   for f in dataclasses.fields(getattr(config, name)) if f.init}
            for name in sections(type(config))}


def _plain(text: str) -> str:
    """Docstring markup (``code``, :role:`name`) to plain text."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")


def _comment(text: str, width: int = 92) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text, width - 2)] or ["#"]


@dataclasses.dataclass(frozen=True)
class KeyDoc:
    """One setting as the generated docs show it."""

    section: str
    key: str
    doc: str
    kind: str
    """Its type in words, with its range for a number."""
    env: str
    default: str
    """The default as TOML (``""`` for unset)."""


def section_summary(cls: type) -> str:
    """The first line of a section's docstring, as plain text ("" for none, or the signature
    that ``@dataclass`` writes when there is none)."""
    doc = (cls.__doc__ or "").strip()
    if not doc or doc.startswith(f"{cls.__name__}("):
        return ""
    return _plain(doc.splitlines()[0])


def key_docs(sec_name: str, cls: type) -> list[KeyDoc]:
    """Every key of a section, with its doc, type (and range), variable and default."""
    docs = field_docs(cls)
    types_ = field_types(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        kind = describe_type(types_[f.name])
        bounds = value_range(cls, sec_name, f.name) if kind.startswith(("an integer", "a number")) else None
        span = f" from {bounds[0]:g} to {bounds[1]:g}{' ' + bounds[2] if bounds[2] else ''}" if bounds else ""
        value = _default(f)
        out.append(KeyDoc(sec_name, f.name, _plain(docs.get(f.name, "")), kind + span, env_var(sec_name, f.name),
                          '""' if value is None else to_toml(value)))
    return out


def render_default_file(schema: type = AppConfig) -> str:
    """A commented config file listing every key with its doc, type and default value.

    Every key is commented out, so the file documents the defaults without pinning them; remove
    the leading ``# `` of a key line to change it.
    """
    out = ["# voiceskill configuration (TOML). Generated by `voiceskill config init`.",
           "# Every key is shown with its default, commented out: uncomment a line to change it.",
           "# Precedence: command-line flags > environment (VOICESKILL_<SECTION>_<KEY>) > this file.",
           "# `voiceskill config show` prints the effective values and where each came from.",
           ""]
    for sec_name, cls in sections(schema).items():
        summary = section_summary(cls)
        if summary:
            out += _comment(summary)
        out.append(f"[{sec_name}]")
        for k in key_docs(sec_name, cls):
            if k.doc:
                out += _comment(k.doc)
            out.append(f"#   type: {k.kind}; env: {k.env}")
            out.append(f"# {k.key} = {k.default}")
        out.append("")
    return "\n".join(out)


def render_reference(schema: type = AppConfig) -> str:
    """The configuration reference in Markdown (docs/config.md): every section and key."""
    out = ["# Configuration reference",
           "",
           "Generated from `voiceskill/settings.py` by `scripts/config_reference.py`; do not edit by hand.",
           "Every key goes in its `[section]` of the config file (`voiceskill config init` writes them all,",
           "commented out), or in the environment as `VOICESKILL_<SECTION>_<KEY>`. Flags win over the",
           "environment, which wins over the file.",
           ""]
    for sec_name, cls in sections(schema).items():
        out += [f"## [{sec_name}]", "", section_summary(cls), "", "| key | default | type | what it does |",
                "| --- | --- | --- | --- |"]
        for k in key_docs(sec_name, cls):
            default = "unset" if k.default == '""' and k.kind.endswith("(or unset)") else f"`{k.default}`"
            cells = (f"`{k.section}.{k.key}`", default, k.kind, k.doc)
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
    return "\n".join(out)
