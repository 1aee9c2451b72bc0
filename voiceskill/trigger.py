"""The trigger stage: what tells the coach that a question starts (and, for hold-to-talk, ends).

Four strategies share one small interface, :class:`Trigger`:

- :class:`EvdevTrigger` — a key on any Linux input device (keyboard, Bluetooth headset
  play/pause, USB foot switch). Hold-to-talk: the question ends on release.
- :class:`TerminalTrigger` — tap Enter or space in a terminal (tap-to-talk, the question ends by
  silence). ``q``, Ctrl-D or end of input give a ``"quit"`` event.
- :class:`GpioTrigger` — a push button on a Raspberry Pi GPIO pin (hold-to-talk).
- :class:`WakeTrigger` — the spoken wake phrase ("hey coach"), spotted in the microphone audio
  (hands-free, the question ends by silence).

How the orchestrator uses a trigger (the same code for every kind)::

    with make_trigger(config, model=model) as trigger:
        for chunk in microphone:                       # 20 ms chunks
            event = trigger.feed(chunk) or trigger.poll(0.0)
            ...

``feed`` gives audio-driven triggers their input and returns ``None`` for the others; ``poll``
reads buttons and keys (it may block up to ``timeout_s`` for a loop that has no audio to wait
on; audio-driven triggers return from it at once). No trigger starts a thread of its own:
file descriptors are waited on with :func:`select.select`; only gpiozero's own callback thread
exists, and it just puts events into a queue.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import select
import sys
import termios
import time
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from voiceskill.errors import TriggerError
from voiceskill.settings import TriggerConfig, WakeConfig

if TYPE_CHECKING:
    from voiceskill.wake import WakeSpotter

log = logging.getLogger(__name__)

EventKind = Literal["press", "release", "quit"]

_GPIO_FIX = "pip install 'voiceskill[gpio]'"
_INPUT_GROUP_FIX = "add yourself to the 'input' group (sudo usermod -aG input $USER) and log in again"


@dataclass(frozen=True)
class TriggerEvent:
    """Something the user did: ``press`` (start, or barge in), ``release`` (hold-to-talk ends
    the question) or ``quit`` (the terminal user typed q / closed input). ``time_s`` is
    :func:`time.monotonic` when the event was read."""

    kind: EventKind
    source: str
    time_s: float


class Trigger(Protocol):
    """A question trigger; a context manager (``close`` on exit).

    ``hold``: True when the question ends on ``release`` (hold-to-talk), False when it ends by
    silence (see :mod:`voiceskill.endpoint`); a ``press`` while the coach speaks is a barge-in.
    """

    hold: bool

    def poll(self, timeout_s: float) -> TriggerEvent | None:
        """The next button/key event, waiting up to ``timeout_s`` (0 = just look). Audio-driven
        triggers return ``None`` at once."""

    def feed(self, chunk: bytes) -> TriggerEvent | None:
        """Give the trigger one microphone chunk; audio-driven triggers may answer with a
        ``press``. Others ignore the audio and return ``None``."""

    def preroll(self) -> bytes | None:
        """After a ``press``: audio heard just before it that belongs to the question (a wake
        phrase said in one breath with the question), or None when the question starts after
        the start tone (a key or button: what the microphone hears during the tone is the tone)."""

    def close(self) -> None:
        """Release the device; idempotent."""

    def __enter__(self) -> Trigger: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class _Base:
    """Context-manager plumbing and the no-audio ``feed`` shared by the triggers."""

    hold = False

    def feed(self, chunk: bytes) -> TriggerEvent | None:
        return None

    def preroll(self) -> bytes | None:
        return None

    def close(self) -> None:
        pass

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# evdev


class EventSource(Protocol):
    """What :class:`EvdevTrigger` reads: :class:`evdev.InputDevice` satisfies it."""

    def fileno(self) -> int: ...

    def read_one(self) -> Any:
        """One pending ``evdev.InputEvent`` or ``None``; ``OSError`` when the device is gone."""

    def close(self) -> None: ...


def key_codes(names: tuple[str, ...]) -> frozenset[int]:
    """evdev key codes for names like ``KEY_PLAYPAUSE``; :class:`TriggerError` for unknown ones."""
    from evdev import ecodes

    codes = set()
    for name in names:
        code = ecodes.ecodes.get(name)
        if code is None or not (name.startswith("KEY_") or name.startswith("BTN_")):
            raise TriggerError(f"unknown key name {name!r} in trigger evdev_keys: use names like "
                               "KEY_SPACE or KEY_PLAYPAUSE (`evtest` shows a device's keys)")
        codes.add(int(code))
    return frozenset(codes)


def _permission_error(path: str) -> TriggerError:
    return TriggerError(f"cannot read {path}: {_INPUT_GROUP_FIX}")


def open_input_device(config: TriggerConfig) -> Any:
    """Open (and optionally grab) the configured input device as an ``evdev.InputDevice``."""
    import evdev

    codes = key_codes(config.evdev_keys)
    wanted = config.evdev_device
    if wanted and wanted.startswith("/"):
        try:
            device = evdev.InputDevice(wanted)
        except PermissionError:
            raise _permission_error(wanted) from None
        except OSError as exc:
            raise TriggerError(f"cannot open input device {wanted} ({exc.strerror}): check the path "
                               "with `voiceskill devices` or connect the device") from None
        return _grab(device, config)
    denied: list[str] = []
    for path in evdev.list_devices():
        try:
            device = evdev.InputDevice(path)
        except PermissionError:
            denied.append(path)
            continue
        except OSError:
            continue
        has_key = bool(codes & set(device.capabilities().get(evdev.ecodes.EV_KEY, [])))
        if has_key and (not wanted or wanted.lower() in device.name.lower()):
            log.info("trigger: using %s (%s)", device.path, device.name)
            return _grab(device, config)
        device.close()
    if denied:
        raise _permission_error(denied[0])
    what = f"named like {wanted!r} " if wanted else ""
    raise TriggerError(f"no input device {what}with {' or '.join(config.evdev_keys)} found: connect "
                       "the headset or keyboard, or set trigger evdev_device (see `voiceskill devices`)")


def _grab(device: Any, config: TriggerConfig) -> Any:
    if config.evdev_grab:
        try:
            device.grab()
        except OSError as exc:
            device.close()
            raise TriggerError(f"cannot grab {device.path} ({exc.strerror}): another program holds "
                               "it; close it or set trigger evdev_grab = false") from None
    return device


class EvdevTrigger(_Base):
    """Hold-to-talk on an evdev key. Key down → ``press``, key up → ``release``; autorepeat is
    ignored. If the device vanishes (a Bluetooth headset disconnects) ``poll`` logs it and keeps
    reopening it with backoff, returning ``None`` meanwhile.

    ``source`` is an already open device (tests pass a fake); ``opener`` makes a new one (default:
    :func:`open_input_device` with ``config``) and is used at start when ``source`` is None and to
    reconnect.
    """

    hold = True
    MAX_BACKOFF_S = 8.0

    def __init__(self, config: TriggerConfig = TriggerConfig(kind="evdev"),
                 source: EventSource | None = None, *,
                 opener: Callable[[], EventSource] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        from evdev import ecodes

        self._ev_key = ecodes.EV_KEY
        self._codes = key_codes(config.evdev_keys)
        self._config = config
        self._opener = opener or (lambda: open_input_device(config))
        self._clock = clock
        self._sleep = sleep
        self._source: EventSource | None = source if source is not None else self._opener()
        self._name = self._describe(self._source)
        self._backoff_s = config.evdev_reconnect_ms / 1000
        self._retry_at = 0.0

    @staticmethod
    def _describe(source: EventSource) -> str:
        return f"evdev:{getattr(source, 'path', None) or type(source).__name__}"

    @property
    def connected(self) -> bool:
        return self._source is not None

    def _lost(self, exc: OSError) -> None:
        log.warning("trigger: input device %s went away (%s); reconnecting", self._name,
                    exc.strerror or exc)
        try:
            if self._source is not None:
                self._source.close()
        except OSError:
            pass
        self._source = None
        self._backoff_s = self._config.evdev_reconnect_ms / 1000
        self._retry_at = self._clock() + self._backoff_s

    def _reconnect(self) -> None:
        try:
            self._source = self._opener()
        except (TriggerError, OSError) as exc:
            self._backoff_s = min(self._backoff_s * 2, self.MAX_BACKOFF_S)
            self._retry_at = self._clock() + self._backoff_s
            log.debug("trigger: reconnect failed (%s); next try in %.1f s", exc, self._backoff_s)
            return
        self._name = self._describe(self._source)
        log.info("trigger: input device %s is back", self._name)

    def _pending(self) -> TriggerEvent | None:
        """The first key event among the events already waiting (others are consumed)."""
        assert self._source is not None
        while True:
            try:
                event = self._source.read_one()
            except BlockingIOError:
                return None
            except OSError as exc:
                self._lost(exc)
                return None
            if event is None:
                return None
            if event.type == self._ev_key and event.code in self._codes and event.value in (0, 1):
                kind: EventKind = "press" if event.value == 1 else "release"
                return TriggerEvent(kind, self._name, self._clock())

    def poll(self, timeout_s: float) -> TriggerEvent | None:
        deadline = self._clock() + max(timeout_s, 0.0)
        while True:
            if self._source is None:
                now = self._clock()
                if now < self._retry_at:
                    if now >= deadline:
                        return None
                    self._sleep(min(self._retry_at, deadline) - now)
                    continue
                self._reconnect()
                continue
            event = self._pending()
            if event is not None:
                return event
            if self._source is None:
                continue
            remaining = deadline - self._clock()
            if remaining <= 0:
                return None
            try:
                select.select([self._source.fileno()], [], [], remaining)
            except (OSError, ValueError) as exc:
                self._lost(exc if isinstance(exc, OSError) else OSError(errno.EBADF, str(exc)))

    def close(self) -> None:
        if self._source is not None:
            source, self._source = self._source, None
            if self._config.evdev_grab and hasattr(source, "ungrab"):
                try:
                    source.ungrab()
                except OSError:
                    pass
            try:
                source.close()
            except OSError:
                pass
        self._retry_at = float("inf")  # closed: never reconnect


# --------------------------------------------------------------------------------------------
# terminal


class TerminalTrigger(_Base):
    """Tap-to-talk in a terminal: Enter or space → ``press``; ``q``, Ctrl-D or end of input →
    ``quit``; other keys are ignored. While open the terminal is in cbreak mode (keys arrive
    at once, no echo); ``close`` restores it. ``fd`` defaults to standard input and is not
    closed by us. A non-terminal ``fd`` (a pipe) is read as is."""

    hold = False
    PRESS = frozenset(b"\n\r ")
    QUIT = frozenset(b"qQ\x04")

    def __init__(self, config: TriggerConfig = TriggerConfig(), fd: int | None = None) -> None:
        self._fd = sys.stdin.fileno() if fd is None else fd
        self._saved: list[Any] | None = None
        self._events: deque[TriggerEvent] = deque()
        self._eof = False
        self._name = f"terminal:{self._fd}"
        if os.isatty(self._fd):
            try:
                self._saved = termios.tcgetattr(self._fd)
                tty.setcbreak(self._fd, termios.TCSANOW)
            except termios.error as exc:
                raise TriggerError(f"cannot set up the terminal for tap-to-talk ({exc}): run in a "
                                   "terminal or use another trigger kind") from None

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 64)
        except BlockingIOError:
            return
        except OSError as exc:  # a pty whose other side closed reports EIO
            if exc.errno != errno.EIO:
                raise TriggerError(f"cannot read the terminal ({exc.strerror})") from None
            data = b""
        now = time.monotonic()
        if not data:
            self._eof = True
            self._events.append(TriggerEvent("quit", self._name, now))
            return
        pressed = False
        for byte in data:
            if byte in self.PRESS:
                # one read holds what arrived together (keys mashed or pasted, or typed while
                # the coach was busy): a burst of presses is one tap, not one turn each
                if not pressed:
                    self._events.append(TriggerEvent("press", self._name, now))
                pressed = True
            elif byte in self.QUIT:
                self._events.append(TriggerEvent("quit", self._name, now))

    def poll(self, timeout_s: float) -> TriggerEvent | None:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while not self._events and not self._eof:
            remaining = max(deadline - time.monotonic(), 0.0)
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if ready:
                self._read()
            elif remaining <= 0:
                break
        return self._events.popleft() if self._events else None

    def close(self) -> None:
        if self._saved is not None:
            saved, self._saved = self._saved, None
            try:
                termios.tcsetattr(self._fd, termios.TCSADRAIN, saved)
            except termios.error:
                pass


# --------------------------------------------------------------------------------------------
# GPIO


class GpioTrigger(_Base):
    """Hold-to-talk on a GPIO push button via gpiozero. gpiozero calls back from its own thread;
    the callbacks only put events into a queue that ``poll`` reads. ``pin_factory`` is
    injectable (tests use ``gpiozero.pins.mock.MockFactory``)."""

    hold = True

    def __init__(self, config: TriggerConfig = TriggerConfig(kind="gpio"),
                 pin_factory: Any = None) -> None:
        try:
            import gpiozero
        except ImportError:
            raise TriggerError(f"the GPIO trigger needs gpiozero: {_GPIO_FIX}") from None
        self._name = f"gpio:{config.gpio_pin}"
        self._events: queue.SimpleQueue[TriggerEvent] = queue.SimpleQueue()
        bounce = config.gpio_bounce_ms / 1000 if config.gpio_bounce_ms else None
        try:
            self._button = gpiozero.Button(config.gpio_pin, pull_up=config.gpio_pull_up,
                                           bounce_time=bounce, pin_factory=pin_factory)
        except (gpiozero.GPIOZeroError, OSError, RuntimeError) as exc:
            raise TriggerError(f"cannot use GPIO pin {config.gpio_pin} ({exc}): run on a Raspberry "
                               "Pi with access to /dev/gpiochip*, or use another trigger kind") from None
        self._button.when_pressed = lambda: self._put("press")
        self._button.when_released = lambda: self._put("release")

    def _put(self, kind: EventKind) -> None:
        self._events.put(TriggerEvent(kind, self._name, time.monotonic()))

    def poll(self, timeout_s: float) -> TriggerEvent | None:
        try:
            if timeout_s <= 0:
                return self._events.get_nowait()
            return self._events.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._button.close()


# --------------------------------------------------------------------------------------------
# wake phrase


class WakeTrigger(_Base):
    """Hands-free: a ``press`` when the :class:`~voiceskill.wake.WakeSpotter` hears the wake
    phrase in the fed audio. The question then ends by silence. After the ``press``,
    :meth:`preroll` returns the audio heard since the phrase ended (feed it to the question
    recognizer first, so "hey coach why do my glutes cramp" in one breath is not cut)."""

    hold = False

    def __init__(self, spotter: WakeSpotter) -> None:
        self._spotter = spotter
        self._name = "wake"

    def feed(self, chunk: bytes) -> TriggerEvent | None:
        if self._spotter.feed(chunk):
            return TriggerEvent("press", self._name, time.monotonic())
        return None

    def poll(self, timeout_s: float) -> TriggerEvent | None:
        return None

    def preroll(self) -> bytes:
        return self._spotter.preroll()

    def close(self) -> None:
        self._spotter.close()


def make_trigger(config: TriggerConfig, *, model: Any = None, wake_config: WakeConfig | None = None,
                 evdev_source: EventSource | None = None, terminal_fd: int | None = None,
                 pin_factory: Any = None) -> Trigger:
    """The trigger ``config.kind`` names. ``model`` (a loaded speech model) is needed for
    ``"wake"``; the other arguments are injection points for tests."""
    if config.kind == "evdev":
        return EvdevTrigger(config, evdev_source)
    if config.kind == "terminal":
        return TerminalTrigger(config, terminal_fd)
    if config.kind == "gpio":
        return GpioTrigger(config, pin_factory)
    from voiceskill.wake import WakeSpotter

    if model is None:
        raise TriggerError("the wake trigger needs the speech model: install it with "
                           "`voiceskill model download`")
    wake = wake_config or WakeConfig()
    return WakeTrigger(WakeSpotter(model, wake))


@dataclass(frozen=True)
class KeyDevice:
    """An input device with keys (keyboard, pedal, a headset's buttons), for `voiceskill devices`."""

    path: str
    name: str
    readable: bool
    """False when this user may not read it (see the input group fix)."""


def list_key_devices() -> list[KeyDevice]:
    """Input devices that send keys, as :func:`open_input_device` would consider them; empty
    when evdev is not installed or there are none."""
    try:
        import evdev
    except ImportError:
        return []
    found: list[KeyDevice] = []
    for path in sorted(evdev.list_devices()):
        try:
            device = evdev.InputDevice(path)
        except PermissionError:
            found.append(KeyDevice(path, "?", False))
            continue
        except OSError:
            continue
        try:
            if evdev.ecodes.EV_KEY in device.capabilities():
                found.append(KeyDevice(path, device.name, True))
        finally:
            device.close()
    return found
