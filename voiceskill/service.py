"""A systemd unit for the coach: render it, install/uninstall it, ask for its status.

The unit runs ``voiceskill run`` at boot, restarts it on failure, logs to the journal, stops it
with SIGTERM, and gives it as little as possible: never root, no network (no IP sockets, its own
empty network namespace), a read-only file system except its own cache/data (and record)
directories, a private /tmp; a system unit also gets no capabilities and only the sound, input
(and GPIO) devices. Every value written into the unit is escaped per systemd's rules, and a
value with a control character is refused.

Two flavours:

* **system unit** (``/etc/systemd/system/voiceskill.service``, installed with sudo) runs as the
  invoking user (``User=``, from ``SUDO_USER``) with the ``audio``/``input``/``gpio`` groups; it
  reaches that user's PipeWire/PulseAudio through ``XDG_RUNTIME_DIR`` (needs lingering for a
  sound server to run without a login: ``loginctl enable-linger USER``).
* **user unit** (``~/.config/systemd/user/voiceskill.service``, ``--user``) runs in the user's own
  service manager next to PipeWire/PulseAudio, which is what a Bluetooth headset needs; it starts
  at boot only with lingering enabled. Its sandbox (network namespace, read-only file system,
  private /tmp) runs in a user namespace (``PrivateUsers=yes``); options that need the system
  manager (device access lists, capability bounding, groups) are left out of user units.

``--wyoming`` installs a second unit, ``voiceskill-wyoming.service``, running ``voiceskill wyoming``
(the coach for Home Assistant). Only its network differs: with a ``tcp://`` URI it may open IP
sockets (``AF_INET``/``AF_INET6`` added to ``RestrictAddressFamilies=``, no ``PrivateNetwork=``) and,
as a system unit, talk only to ``IPAddressAllow=`` (``localhost`` when it listens on loopback, else
``localhost`` plus the private networks, or what ``--allow`` gives) with ``IPAddressDeny=any``; a
``unix://`` socket keeps the offline unit's network settings. User managers cannot filter by
address, so a user unit gets the address families only.

Every ``systemctl`` call goes through a :data:`Runner` so tests never touch the host's systemd.
"""

from __future__ import annotations

import grp
import ipaddress
import logging
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from voiceskill.errors import ServiceError

log = logging.getLogger(__name__)

UNIT_NAME = "voiceskill.service"
WYOMING_UNIT_NAME = "voiceskill-wyoming.service"
PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "link-local")
"""Who may reach a Wyoming server listening beyond loopback unless ``--allow`` says otherwise."""
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
LINGER_DIR = Path("/var/lib/systemd/linger")
SERVICE_GROUPS = ("audio", "input", "gpio")
"""Supplementary groups of a system unit (those that exist on the machine)."""

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]
"""Runs a command (``["systemctl", ...]``) and returns its completed process (never raises)."""




def run_command(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """The real :data:`Runner`."""
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True, check=False, timeout=120)
    except FileNotFoundError:
        raise ServiceError(f"{cmd[0]} not found: this needs systemd (sudo apt install systemd)") from None
    except subprocess.TimeoutExpired:
        raise ServiceError(f"`{' '.join(cmd)}` did not finish in 120 s; check `systemctl status`") from None


@dataclass(frozen=True)
class UnitSpec:
    """Everything the unit text depends on.

    exec_path: the absolute path of the ``voiceskill`` console script.
    user_unit: True = a unit for the user's own service manager (``systemctl --user``).
    run_as: the account of a system unit (``User=``); ignored for user units.
    config: the config file passed as ``--config`` (None = the account's default file).
    writable: directories the coach may write (cache, data, record dir); missing ones are skipped.
    groups: supplementary groups of a system unit.
    runtime_dir: ``XDG_RUNTIME_DIR`` of ``run_as`` (its sound server lives there); system units only.
    gpio: allow the GPIO character devices (the trigger is a GPIO button).
    restart_s: ``RestartSec=``, seconds.
    stop_timeout_s: ``TimeoutStopSec=``, seconds.
    wyoming_uri: run ``voiceskill wyoming --uri URI`` (for Home Assistant) instead of ``run``; a
        ``tcp://`` URI is the only thing that lets IP sockets in (see :func:`render_unit`).
    ip_allow: ``IPAddressAllow=`` of a system unit serving ``tcp://`` (empty = :func:`default_ip_allow`).
    """

    exec_path: Path
    user_unit: bool = False
    run_as: str = ""
    config: Path | None = None
    writable: tuple[Path, ...] = ()
    groups: tuple[str, ...] = ()
    runtime_dir: Path | None = None
    gpio: bool = False
    restart_s: int = 5
    stop_timeout_s: int = 15
    wyoming_uri: str | None = None
    ip_allow: tuple[str, ...] = ()

    @property
    def unit_name(self) -> str:
        return UNIT_NAME if self.wyoming_uri is None else WYOMING_UNIT_NAME


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_ip_allow(uri: str) -> tuple[str, ...]:
    """Who may talk to a Wyoming server at ``uri``: only this machine when it listens on loopback,
    else this machine and the private networks (the home network Home Assistant is on)."""
    host = urlparse(uri).hostname or ""
    return ("localhost",) if _is_loopback(host) else ("localhost", *PRIVATE_NETWORKS)


def _check_value(value: str, what: str) -> str:
    """Refuse a value a unit file cannot hold safely: a control character (a newline would
    start a new, attacker-chosen line such as ``ExecStartPre=+...``)."""
    bad = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ServiceError(f"{what} {value!r} contains a control character ({bad!r}), which a systemd "
                           f"unit cannot hold; rename it or choose another path")
    return value


def _quote(arg: str, what: str = "a command-line argument") -> str:
    """One ExecStart= argument for systemd: ``%`` -> ``%%`` (specifiers), ``$`` -> ``$$``
    (variable expansion), and double-quoted with ``\\`` and ``\"`` escaped when it holds
    anything systemd would split or interpret."""
    arg = _check_value(arg, what).replace("%", "%%").replace("$", "$$")
    if arg and not any(c in arg for c in ' \t"\'\\;'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _path_value(path: Path, what: str = "the path") -> str:
    """A path in a space-separated list setting (``ReadWritePaths=``) or ``Environment=``:
    specifiers escaped, and every character systemd would split on or unquote written as a
    C escape (``\\x20``)."""
    value = _check_value(str(path), what).replace("\\", "\\\\").replace("%", "%%")
    for c in ' "\'':
        value = value.replace(c, f"\\x{ord(c):02x}")
    return value


def render_unit(spec: UnitSpec) -> str:
    """The unit file text. Every value from outside (paths, the account, groups, the URI) is
    checked for control characters and escaped per systemd's rules; :class:`ServiceError` says
    what is wrong. A Wyoming unit on ``tcp://`` differs from the offline one only in its network."""
    if not spec.exec_path.is_absolute():
        raise ValueError(f"ExecStart needs an absolute path, got {spec.exec_path}")
    system = not spec.user_unit
    if system and (not spec.run_as or spec.run_as == "root"):
        raise ValueError("a system unit must run as an ordinary user (User=), not root")
    uri = spec.wyoming_uri
    tcp = uri is not None and urlparse(uri).scheme == "tcp"
    argv = [_quote(str(spec.exec_path), "the voiceskill command path")]
    argv += ["run"] if uri is None else ["wyoming", "--uri", _quote(uri, "the Wyoming URI")]
    if spec.config:
        argv += ["--config", _quote(str(spec.config), "the config file path")]
    paths = list(spec.writable)
    if uri is not None and urlparse(uri).scheme == "unix":  # the socket's folder
        paths.append(Path(urlparse(uri).path).parent)
    writable = " ".join("-" + _path_value(p, "the directory the service writes (record dir, cache)")
                        for p in paths)
    if not system:  # the sound server's sockets live in $XDG_RUNTIME_DIR (%t), under ProtectHome=
        writable = " ".join(w for w in (writable, "-%t") if w)
    after = ("sound.target bluetooth.target" if system else
             "pipewire.service pipewire-pulse.service wireplumber.service pulseaudio.service")
    unit = ["[Unit]",
            "Description=voiceskill offline voice coach" + ("" if uri is None else
                                                            " for Home Assistant (Wyoming protocol)")]
    if tcp:
        unit += ["Wants=network-online.target", f"After=network-online.target {after}"]
    else:
        unit.append(f"After={after}")
    unit += ["StartLimitIntervalSec=300",
             "StartLimitBurst=10"]
    service = ["[Service]", "Type=simple"]
    if system:
        for name in (spec.run_as, *spec.groups):
            if not name or any(not (c.isalnum() or c in "._-") for c in name):
                raise ServiceError(f"the account or group name {name!r} is not a plain name "
                                   f"(letters, digits, . _ -); pass another one with --run-as")
        service.append(f"User={spec.run_as.replace('%', '%%')}")
        if spec.groups:
            service.append(f"SupplementaryGroups={' '.join(spec.groups)}")
    service += [f"ExecStart={' '.join(argv)}",
                "Environment=PYTHONUNBUFFERED=1"]
    if system and spec.runtime_dir is not None:
        service.append(f"Environment=XDG_RUNTIME_DIR={_path_value(spec.runtime_dir, 'the runtime directory')}")
    service += ["Restart=on-failure",
                f"RestartSec={spec.restart_s}",
                "KillSignal=SIGTERM",
                "KillMode=mixed",
                f"TimeoutStopSec={spec.stop_timeout_s}",
                "StandardOutput=journal",
                "StandardError=journal",
                f"SyslogIdentifier={spec.unit_name.removesuffix('.service')}"]
    network = ("IP sockets for the Wyoming server (a system unit: only from the addresses in "
               "IPAddressAllow=)" if tcp else "its own empty network namespace")
    if system:
        service += ["# Least privilege (system unit): never root, no capabilities; network: " + network + ";",
                    "# the whole file system read-only except the directories in ReadWritePaths= (cache,",
                    "# model data, record dir), a private /tmp, and of /dev only the sound cards, input",
                    "# devices (push-to-talk) and GPIO (for a GPIO trigger)."]
    else:
        service += ["# Least privilege (user unit): the sandboxing a per-user service manager can do, in",
                    "# a user namespace (PrivateUsers=yes; needs unprivileged user namespaces, on by",
                    "# default on Debian 12 and Raspberry Pi OS); network: " + network + ";",
                    "# the whole file system read-only except the directories in ReadWritePaths= (cache,",
                    "# model data, record dir), a private /tmp. The sound server and input devices",
                    "# stay reachable (UNIX sockets, your groups). Not available to a user unit:",
                    "# device access lists (DeviceAllow=), capability bounding, User=/groups, IP filters."]
    service += ["NoNewPrivileges=yes",
                "RestrictAddressFamilies=AF_UNIX AF_NETLINK" + (" AF_INET AF_INET6" if tcp else ""),
                "RestrictSUIDSGID=yes",
                "RestrictNamespaces=yes",
                "LockPersonality=yes",
                "SystemCallArchitectures=native",
                "UMask=0077"]
    if not system:
        service.append("PrivateUsers=yes")
    if tcp and system:
        assert uri is not None
        allow = spec.ip_allow or default_ip_allow(uri)
        service += ["IPAddressDeny=any", f"IPAddressAllow={' '.join(_check_value(a, 'an address') for a in allow)}"]
    elif not tcp:
        service.append("PrivateNetwork=yes")
    service += ["ProtectSystem=strict",
                "ProtectHome=read-only",
                "PrivateTmp=yes",
                "ProtectKernelTunables=yes",
                "ProtectKernelModules=yes",
                "ProtectControlGroups=yes"]
    if writable:
        service.append("ReadWritePaths=" + writable)
    if system:
        service += ["CapabilityBoundingSet=",
                    "AmbientCapabilities=",
                    "ProtectKernelLogs=yes",
                    "ProtectClock=yes",
                    "ProtectHostname=yes",
                    "PrivateDevices=no",
                    "DevicePolicy=closed",
                    "DeviceAllow=char-alsa rw",
                    "DeviceAllow=char-input r"]
        if spec.gpio:
            service += ["DeviceAllow=char-gpiochip rw", "DeviceAllow=/dev/gpiomem rw"]
    install = ["[Install]", f"WantedBy={'multi-user.target' if system else 'default.target'}"]
    header = ["# Generated by `voiceskill service install` (see `voiceskill service install --print`)."]
    return "\n".join(header + unit + [""] + service + [""] + install) + "\n"


# --------------------------------------------------------------------------------------------
# Finding the pieces


def console_script(executable: str = sys.executable, which: Callable[[str], str | None] = shutil.which) -> Path:
    """The absolute path of the installed ``voiceskill`` script: next to the running Python first."""
    beside = Path(executable).parent / "voiceskill"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside.absolute()
    found = which("voiceskill")
    if found:
        return Path(found).absolute()
    raise ServiceError(f"the voiceskill command is not installed next to {executable} or on PATH: "
                       f"`pip install .` (in a venv) first, then run this with that venv's voiceskill")


def invoking_user(env: Mapping[str, str], euid: int) -> str:
    """The person behind this command: SUDO_USER under sudo, else the current account."""
    name = env.get("SUDO_USER", "") if euid == 0 else ""
    if name:
        return name
    try:
        return pwd.getpwuid(euid).pw_name
    except KeyError:
        return env.get("USER", "")


def existing_groups(names: Sequence[str] = SERVICE_GROUPS) -> tuple[str, ...]:
    found = []
    for name in names:
        try:
            grp.getgrnam(name)
        except KeyError:
            continue
        found.append(name)
    return tuple(found)


def unit_dir(user_unit: bool, env: Mapping[str, str]) -> Path:
    """Where the unit file goes: /etc/systemd/system, or $XDG_CONFIG_HOME/systemd/user."""
    if not user_unit:
        return SYSTEM_UNIT_DIR
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path(env.get("HOME") or Path.home()) / ".config"
    return base / "systemd" / "user"


def writable_dirs(home: Path, record_dir: Path | None = None) -> tuple[Path, ...]:
    """The coach's own cache and data directories under ``home`` (plus the record dir)."""
    dirs = [home / ".cache" / "voiceskill", home / ".local" / "share" / "voiceskill"]
    if record_dir is not None:
        dirs.append(record_dir)
    return tuple(dirs)


# --------------------------------------------------------------------------------------------
# systemctl


def _systemctl(runner: Runner, user_unit: bool, *args: str, check: bool = True,
               unit: str = UNIT_NAME) -> subprocess.CompletedProcess[str]:
    cmd = ["systemctl", *(["--user"] if user_unit else []), *args]
    done = runner(cmd)
    if check and done.returncode != 0:
        why = (done.stderr or done.stdout or "").strip().splitlines()
        raise ServiceError(f"`{' '.join(cmd)}` failed: {why[-1] if why else f'exit {done.returncode}'}"
                           f"; see `journalctl {'--user ' if user_unit else ''}-u "
                           f"{unit.removesuffix('.service')}`")
    return done


def install(spec: UnitSpec, directory: Path, runner: Runner, *, start: bool = True) -> Path:
    """Write the unit, reload systemd, enable it (and start it now unless ``start`` is False)."""
    name = spec.unit_name
    path = directory / name
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(render_unit(spec), encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(path)
    except PermissionError:
        raise ServiceError(f"cannot write {path}: use --user or sudo") from None
    except OSError as exc:
        raise ServiceError(f"cannot write {path} ({exc.strerror}); check the directory") from None
    log.info("wrote %s", path)
    _systemctl(runner, spec.user_unit, "daemon-reload", unit=name)
    _systemctl(runner, spec.user_unit, "enable", *(["--now"] if start else []), name, unit=name)
    return path


def uninstall(user_unit: bool, directory: Path, runner: Runner, name: str = UNIT_NAME) -> Path | None:
    """Stop and disable the service and delete its unit; returns the removed path (None if absent)."""
    path = directory / name
    _systemctl(runner, user_unit, "disable", "--now", name, check=False, unit=name)
    if not path.exists():
        return None
    try:
        path.unlink()
    except PermissionError:
        raise ServiceError(f"cannot remove {path}: use --user or sudo") from None
    _systemctl(runner, user_unit, "daemon-reload", unit=name)
    return path


def status(user_unit: bool, runner: Runner, name: str = UNIT_NAME) -> tuple[bool, str]:
    """(active?, the text of ``systemctl status``)."""
    active = _systemctl(runner, user_unit, "is-active", "--quiet", name, check=False).returncode == 0
    text = _systemctl(runner, user_unit, "status", "--no-pager", "--lines=10", name, check=False)
    return active, (text.stdout or text.stderr or "").rstrip()


def check_privileges(user_unit: bool, euid: int, action: str) -> None:
    """System units live in /etc and are managed by the system manager: that needs root."""
    if not user_unit and euid != 0:
        raise ServiceError(f"{action} a system unit needs root: use --user or sudo")


def lingering(user: str, linger_dir: Path = LINGER_DIR) -> bool:
    """True when ``user``'s service manager (and its user units) runs without a login."""
    return (linger_dir / user).exists()
