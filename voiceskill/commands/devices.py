"""``voiceskill devices``: list the audio input and output devices PortAudio can see, and the
input devices with keys a push-to-talk trigger can use (evdev)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voiceskill.audio import DeviceInfo

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("devices", parents=[common], help="list audio input and output devices",
                       description="List the microphones and speakers PortAudio can see, with the "
                                   "index or name to use as a `device` setting.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_devices)


def _line(d: DeviceInfo, channels: int, is_default: bool) -> str:
    mark = "*" if is_default else " "
    return (f"{mark} {d.index:>3}  {d.name}  ({d.hostapi}, {channels} ch, "
            f"{d.default_rate_hz:g} Hz)")


def _devices(args: argparse.Namespace) -> int:
    from voiceskill.audio import list_devices

    devices = list_devices()
    if args.json:
        print(json.dumps([dataclasses.asdict(d) for d in devices], indent=2))
        return 0
    inputs = [d for d in devices if d.input_channels > 0]
    outputs = [d for d in devices if d.output_channels > 0]
    print("Input devices (microphones):")
    print("\n".join(_line(d, d.input_channels, d.default_input) for d in inputs) or "  none")
    print("Output devices (speakers):")
    print("\n".join(_line(d, d.output_channels, d.default_output) for d in outputs) or "  none")
    print("* = system default. Use the index or part of the name as the microphone's or the "
          "speaker's `device` setting.")
    print("Push-to-talk devices (evdev keys):")
    from voiceskill.trigger import _INPUT_GROUP_FIX, list_key_devices

    keys = list_key_devices()
    for k in keys:
        print(f"  {k.path}  {k.name}" if k.readable else f"  {k.path}  (not readable: {_INPUT_GROUP_FIX})")
    if not keys:
        print("  none found (no /dev/input/event* with keys, or python evdev not installed: "
              "pip install 'voiceskill[evdev]')")
    print("Use part of a name as [trigger] evdev_device, or the path.")
    return 0
