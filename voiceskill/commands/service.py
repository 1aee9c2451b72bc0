"""``voiceskill service install|uninstall|status``: run the coach as a systemd service."""

from __future__ import annotations

import argparse
import ipaddress
import os
import pwd
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse

from voiceskill import service
from voiceskill.config import load_config
from voiceskill.settings import WyomingConfig


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("service", parents=[common], help="run the coach at boot as a systemd service",
                       description="Install, remove or inspect the voiceskill systemd service. "
                                   "A system unit (default, needs sudo) runs as your account; "
                                   "--user installs into your own service manager (best for "
                                   "Bluetooth headsets; needs `loginctl enable-linger` to start at boot).")
    actions = p.add_subparsers(dest="service_action", metavar="ACTION", required=True)

    def scope(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--user", action="store_true",
                            help="a user unit (systemctl --user) instead of a system unit")
        parser.add_argument("--wyoming", action="store_true",
                            help="the Home Assistant server (voiceskill wyoming, unit voiceskill-wyoming) "
                                 "instead of the voice coach")

    inst = actions.add_parser("install", parents=[common], help="write, enable and start the unit")
    scope(inst)
    inst.add_argument("--print", action="store_true", dest="print_only",
                      help="print the unit instead of installing it")
    inst.add_argument("--config", type=Path, metavar="FILE", help="config file for the service")
    inst.add_argument("--no-start", action="store_true", help="enable only; start at next boot")
    inst.add_argument("--run-as", metavar="USER",
                      help="account of a system unit (default: the user who ran sudo)")
    inst.add_argument("--uri", metavar="URI",
                      help="with --wyoming: where the server listens (default from config: "
                           f"{WyomingConfig().uri})")
    inst.add_argument("--allow", action="append", metavar="ADDRESS[/PREFIX]",
                      help="with --wyoming and a tcp:// URI: who may connect (IPAddressAllow=, besides "
                           "localhost; repeatable; default: the private networks when not on loopback)")
    inst.set_defaults(func=_install)

    rm = actions.add_parser("uninstall", parents=[common], help="stop, disable and remove the unit")
    scope(rm)
    rm.set_defaults(func=_uninstall)

    st = actions.add_parser("status", parents=[common], help="is the service running? (systemctl status)")
    scope(st)
    st.set_defaults(func=_status)


def build_spec(args: argparse.Namespace, env: Mapping[str, str], euid: int) -> tuple[service.UnitSpec, str]:
    """The unit for these arguments (who runs it, which config, directories, devices) and the
    configured trigger kind."""
    exec_path = service.console_script()
    config_file = args.config.expanduser().absolute() if args.config else None
    if args.user:
        run_as = service.invoking_user(env, euid)
        home = Path(env.get("HOME") or Path.home())
        config_env: Mapping[str, str] = env
    else:
        run_as = args.run_as or service.invoking_user(env, euid)
        if not run_as or run_as == "root":
            raise service.ServiceError("the service must not run as root: run `sudo voiceskill service "
                                       "install` from your own account, or pass --run-as USER")
        try:
            account = pwd.getpwnam(run_as)
        except KeyError:
            raise service.ServiceError(f"no such user {run_as!r}: pass --run-as USER") from None
        home = Path(account.pw_dir)
        # The service reads the account's own config file, not root's (sudo keeps root's HOME).
        config_env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    wyoming = getattr(args, "wyoming", False)
    if not wyoming and (getattr(args, "uri", None) or getattr(args, "allow", None)):
        raise service.ServiceError("--uri and --allow are for the Home Assistant server: add --wyoming")
    config, _ = load_config(config_file, config_env, {"wyoming.uri": getattr(args, "uri", None)})
    kind: str = config.trigger.kind
    common: dict[str, object] = dict(
        exec_path=exec_path, config=config_file, writable=service.writable_dirs(home, config.general.record_dir),
        gpio=kind == "gpio" and not wyoming,
        restart_s=config.service.restart_s, stop_timeout_s=config.service.stop_timeout_s)
    if wyoming:
        common.update(wyoming_uri=config.wyoming.uri, ip_allow=_allow(args.allow or (), config.wyoming.uri))
        kind = "wyoming"
    if args.user:
        return service.UnitSpec(user_unit=True, run_as=run_as, **common), kind  # type: ignore[arg-type]
    return service.UnitSpec(run_as=run_as, groups=service.existing_groups(),
                            runtime_dir=Path(f"/run/user/{pwd.getpwnam(run_as).pw_uid}"),
                            **common), kind  # type: ignore[arg-type]


def _allow(addresses: Sequence[str], uri: str) -> tuple[str, ...]:
    """``IPAddressAllow=`` for ``--allow`` values: always localhost, then each address or network."""
    if not addresses:
        return ()
    out = ["localhost"]
    for text in addresses:
        try:
            out.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise service.ServiceError(f"--allow {text!r} is not an IP address or network "
                                       "(e.g. 192.168.1.20 or 192.168.1.0/24)") from None
    if urlparse(uri).scheme != "tcp":
        raise service.ServiceError("--allow needs a tcp:// URI (a unix:// socket has no addresses)")
    return tuple(dict.fromkeys(out))


def _install(args: argparse.Namespace) -> int:
    euid = os.geteuid()
    if not args.print_only:
        service.check_privileges(args.user, euid, "installing")
    spec, kind = build_spec(args, os.environ, euid)
    if kind == "terminal":
        problem = ("the configured trigger is \"terminal\" (Enter/space in a terminal), which a service "
                   "does not have: set [trigger] kind = \"evdev\", \"gpio\" or \"wake\" in the config "
                   "file (voiceskill config path)")
        if not args.print_only:
            raise service.ServiceError(problem)
        print(f"voiceskill: warning: {problem}", file=sys.stderr)
    if args.print_only:
        print(service.render_unit(spec), end="")
        return 0
    path = service.install(spec, service.unit_dir(args.user, os.environ), service.run_command,
                           start=not args.no_start)
    scope = "--user " if args.user else ""
    flavour = "--wyoming " if args.wyoming else ""
    print(f"installed {path} ({'enabled' if args.no_start else 'enabled and started'})")
    print(f"logs: journalctl {scope}-u {spec.unit_name.removesuffix('.service')} -f    "
          f"status: voiceskill service status {scope}{flavour}".rstrip())
    if args.wyoming and spec.wyoming_uri is not None:
        print(f"Home Assistant: add the Wyoming Protocol integration with this machine's address and the "
              f"port of {spec.wyoming_uri}")
    if not service.lingering(spec.run_as) and (args.user or not args.wyoming):
        why = ("so the user unit starts at boot" if args.user
               else "so your sound server (PipeWire/PulseAudio) runs without a login")
        print(f"note: run `sudo loginctl enable-linger {spec.run_as}` {why}")
    return 0


def _uninstall(args: argparse.Namespace) -> int:
    service.check_privileges(args.user, os.geteuid(), "removing")
    name = service.WYOMING_UNIT_NAME if args.wyoming else service.UNIT_NAME
    path = service.uninstall(args.user, service.unit_dir(args.user, os.environ), service.run_command, name)
    print(f"removed {path}" if path else f"no {name} unit was installed")
    return 0


def _status(args: argparse.Namespace) -> int:
    name = service.WYOMING_UNIT_NAME if args.wyoming else service.UNIT_NAME
    active, text = service.status(args.user, service.run_command, name)
    print(text or f"{name}: {'active' if active else 'not active'}")
    return 0 if active else 3
