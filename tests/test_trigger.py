"""Triggers: evdev keys (real InputEvents through a pipe), a real pty terminal, gpiozero mock pins."""

from __future__ import annotations

import errno
import logging
import os
import struct
import sys
import termios
from collections.abc import Iterator

import evdev
import pytest
from evdev import ecodes

from voiceskill.errors import ConfigError, TriggerError
from voiceskill.trigger import EvdevTrigger, GpioTrigger, TerminalTrigger, TriggerEvent, make_trigger, open_input_device
from voiceskill.settings import TriggerConfig

EVENT = struct.Struct("qqHHi")  # struct input_event on 64-bit Linux


class PipeDevice:
    """An input device stand-in: real ``evdev.InputEvent``s travel through a pipe, so ``select``
    on ``fileno()`` behaves as for /dev/input/eventN. ``vanish()`` acts like a Bluetooth headset
    disconnecting (the fd turns readable, reads fail with ENODEV)."""

    def __init__(self, path: str = "/dev/input/event7") -> None:
        self.path = path
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self.gone = False
        self.closed = False
        self.ungrabbed = False

    def send(self, *events: evdev.InputEvent) -> None:
        for e in events:
            os.write(self._w, EVENT.pack(e.sec, e.usec, e.type, e.code, e.value))

    def key(self, code: int, value: int) -> None:
        self.send(evdev.InputEvent(1700000000, 1000, ecodes.EV_KEY, code, value),
                  evdev.InputEvent(1700000000, 1001, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))

    def vanish(self) -> None:
        self.gone = True
        os.close(self._w)

    def fileno(self) -> int:
        return self._r

    def read_one(self) -> evdev.InputEvent | None:
        if self.gone:
            raise OSError(errno.ENODEV, "No such device")
        try:
            data = os.read(self._r, EVENT.size)
        except BlockingIOError:
            return None
        return evdev.InputEvent(*EVENT.unpack(data))

    def ungrab(self) -> None:
        self.ungrabbed = True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._r)
            if not self.gone:
                os.close(self._w)


def drain(trigger: EvdevTrigger | TerminalTrigger, timeout_s: float = 0.05) -> list[str]:
    out = []
    while (event := trigger.poll(timeout_s)) is not None:
        out.append(event.kind)
    return out


@pytest.fixture
def device() -> Iterator[PipeDevice]:
    d = PipeDevice()
    yield d
    d.close()


def test_evdev_press_release_ignores_autorepeat_and_other_keys(device: PipeDevice) -> None:
    config = TriggerConfig(kind="evdev", evdev_keys=("KEY_PLAYPAUSE,KEY_MEDIA",))
    assert config.evdev_keys == ("KEY_PLAYPAUSE", "KEY_MEDIA")
    with EvdevTrigger(config, device) as trigger:
        assert trigger.hold is True and trigger.feed(b"\0" * 640) is None
        assert trigger.poll(0.0) is None
        device.key(ecodes.KEY_PLAYPAUSE, 1)
        device.key(ecodes.KEY_PLAYPAUSE, 2)  # autorepeat while held
        device.key(ecodes.KEY_VOLUMEUP, 1)   # another key on the headset
        device.key(ecodes.KEY_PLAYPAUSE, 0)
        device.key(ecodes.KEY_MEDIA, 1)
        first = trigger.poll(1.0)
        assert isinstance(first, TriggerEvent) and first.kind == "press"
        assert first.source == "evdev:/dev/input/event7"
        assert drain(trigger) == ["release", "press"]
    assert device.closed and not device.ungrabbed


def test_evdev_grabbed_device_is_released_on_close(device: PipeDevice) -> None:
    trigger = EvdevTrigger(TriggerConfig(kind="evdev", evdev_grab=True), device)
    trigger.close()
    trigger.close()
    assert device.ungrabbed and device.closed


def test_evdev_reconnects_after_the_device_vanishes(device: PipeDevice,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    replacement = PipeDevice("/dev/input/event9")
    attempts = []

    def opener() -> PipeDevice:
        attempts.append(1)
        if len(attempts) < 3:
            raise TriggerError("no input device with KEY_SPACE found")
        return replacement

    config = TriggerConfig(kind="evdev", evdev_reconnect_ms=5)
    with caplog.at_level(logging.WARNING, logger="voiceskill.trigger"):
        trigger = EvdevTrigger(config, device, opener=opener)
        device.key(ecodes.KEY_SPACE, 1)
        assert trigger.poll(1.0).kind == "press"
        device.vanish()
        assert trigger.poll(0.0) is None  # no crash: logged and reconnecting
        assert not trigger.connected
    assert "went away" in caplog.text
    for _ in range(200):
        if trigger.connected:
            break
        assert trigger.poll(0.02) is None
    assert trigger.connected and len(attempts) == 3
    replacement.key(ecodes.KEY_SPACE, 0)
    event = trigger.poll(1.0)
    assert event.kind == "release" and event.source == "evdev:/dev/input/event9"
    trigger.close()
    assert replacement.closed


def test_evdev_key_names_are_checked() -> None:
    with pytest.raises(TriggerError, match="unknown key name 'KEY_NOPE'"):
        EvdevTrigger(TriggerConfig(kind="evdev", evdev_keys=("KEY_NOPE",)), PipeDevice())
    with pytest.raises(TriggerError, match="unknown key name 'EV_KEY'"):
        EvdevTrigger(TriggerConfig(kind="evdev", evdev_keys=("EV_KEY",)), PipeDevice())


def test_opening_input_devices_explains_permissions(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(evdev, "InputDevice", denied)
    monkeypatch.setattr(evdev, "list_devices", lambda: ["/dev/input/event4"])
    with pytest.raises(TriggerError) as err:
        open_input_device(TriggerConfig(kind="evdev", evdev_device="/dev/input/event3"))
    assert str(err.value) == ("cannot read /dev/input/event3: add yourself to the 'input' group "
                              "(sudo usermod -aG input $USER) and log in again")
    with pytest.raises(TriggerError, match="cannot read /dev/input/event4: add yourself"):
        open_input_device(TriggerConfig(kind="evdev", evdev_device="headset"))


def test_opening_a_missing_input_device_is_one_clear_line(tmp_path: object,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TriggerError, match=r"cannot open input device /nonexistent/event3 "
                                           r"\(No such file or directory\)"):
        open_input_device(TriggerConfig(kind="evdev", evdev_device="/nonexistent/event3"))
    monkeypatch.setattr(evdev, "list_devices", lambda: [])
    with pytest.raises(TriggerError, match="no input device named like 'headset' with "
                                           "KEY_PLAYPAUSE found"):
        open_input_device(TriggerConfig(kind="evdev", evdev_device="headset",
                                        evdev_keys=("KEY_PLAYPAUSE",)))


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    yield master, slave
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass


def test_terminal_tap_to_talk_on_a_real_pty(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    before = termios.tcgetattr(slave)
    assert before[3] & termios.ICANON
    with make_trigger(TriggerConfig(kind="terminal"), terminal_fd=slave) as trigger:
        assert isinstance(trigger, TerminalTrigger) and trigger.hold is False
        assert not termios.tcgetattr(slave)[3] & (termios.ICANON | termios.ECHO)  # cbreak
        assert trigger.poll(0.0) is None
        os.write(master, b" ")  # no Enter needed in cbreak mode
        assert trigger.poll(1.0).kind == "press"
        os.write(master, b"x\r")
        assert trigger.poll(1.0).kind == "press"
        assert trigger.poll(0.05) is None  # 'x' was ignored
        os.write(master, b"q")
        assert trigger.poll(1.0).kind == "quit"
    assert termios.tcgetattr(slave) == before  # terminal restored


def test_terminal_end_of_input_is_quit(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    r, w = os.pipe()
    os.write(w, b"\n")
    os.close(w)
    with TerminalTrigger(TriggerConfig(), fd=r) as trigger:  # a pipe, not a tty: read as is
        assert drain(trigger) == ["press", "quit"]
    os.close(r)
    with TerminalTrigger(TriggerConfig(), fd=slave) as trigger:
        os.close(master)  # the terminal went away
        assert trigger.poll(1.0).kind == "quit"


def test_gpio_button_with_mock_pins() -> None:
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    config = TriggerConfig(kind="gpio", gpio_pin=17, gpio_bounce_ms=0)
    with make_trigger(config, pin_factory=factory) as trigger:
        assert isinstance(trigger, GpioTrigger) and trigger.hold is True
        pin = factory.pin(17)
        assert trigger.poll(0.0) is None
        pin.drive_low()  # pull-up wiring: pressed connects the pin to ground
        pin.drive_high()
        first, second = trigger.poll(1.0), trigger.poll(1.0)
        assert (first.kind, second.kind) == ("press", "release")
        assert first.source == "gpio:17" and first.time_s <= second.time_s
        assert trigger.poll(0.01) is None
    factory.reset()


def test_gpio_pull_down_wiring() -> None:
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    config = TriggerConfig(kind="gpio", gpio_pin=27, gpio_pull_up=False, gpio_bounce_ms=0)
    with GpioTrigger(config, pin_factory=factory) as trigger:
        factory.pin(27).drive_high()
        assert trigger.poll(1.0).kind == "press"
    factory.reset()


def test_gpio_without_gpiozero_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiozero", None)
    with pytest.raises(TriggerError, match=r"needs gpiozero: pip install 'voiceskill\[gpio\]'"):
        make_trigger(TriggerConfig(kind="gpio"))


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="trigger kind 'bluetooth' is not one of"):
        TriggerConfig(kind="bluetooth")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        TriggerConfig(evdev_keys=(" , ",))
    assert TriggerConfig(evdev_keys="key_playpause, KEY_MEDIA").evdev_keys == (  # type: ignore[arg-type]
        "KEY_PLAYPAUSE", "KEY_MEDIA")


def test_wake_trigger_needs_the_model() -> None:
    with pytest.raises(TriggerError, match="needs the speech model"):
        make_trigger(TriggerConfig(kind="wake"))
