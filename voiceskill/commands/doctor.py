"""``voiceskill doctor``: check that this machine is ready, with the exact fix for each problem."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from voiceskill import doctor
from voiceskill.cliutil import add_config_option

_MARK = {"ok": " ok ", "warn": "warn", "FAIL": "FAIL", "skip": "skip"}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("doctor", parents=[common], help="check that this machine is ready to run the coach",
                       description="Check PortAudio, eSpeak NG, pyttsx3, the speech model, audio "
                                   "devices (with a one-second microphone level test), push-to-talk "
                                   "permissions, GPIO and memory. Exit code 0 = ready, 1 = not ready.")
    add_config_option(p)
    p.add_argument("--model", type=Path, metavar="DIR", help="speech model directory")
    p.add_argument("--no-level-test", action="store_true", help="skip the one-second recording")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    config_check, config = doctor.check_config(args.config, os.environ, {"general.model": args.model})
    checks = [config_check] + doctor.run_checks(config, level_test=not args.no_level_test)
    is_ready = doctor.ready(checks)
    if args.json:
        print(json.dumps({"ready": is_ready, "checks": [c.as_dict() for c in checks],
                          "environment": doctor.env_summary(os.environ)}, indent=2))
        return 0 if is_ready else 1
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"[{_MARK[c.status]}] {c.name.ljust(width)}  {c.detail}")
        if c.fix and c.status in ("FAIL", "warn"):
            print(f"       {''.ljust(width)}  fix: {c.fix}")
    problems = sum(1 for c in checks if not c.ok)
    print("ready" if is_ready else f"not ready: {problems} problem{'s' * (problems != 1)} (see fix lines)")
    return 0 if is_ready else 1
