"""``voiceskill wyoming``: serve the coach to Home Assistant over the Wyoming protocol.

The coach (answers), its ear (speech to text) and its voice (text to speech) are loaded once and
served from one asyncio loop (:mod:`voiceskill.wyoming_server`) until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import time
from typing import Any
from urllib.parse import urlparse

from voiceskill.cliutil import add_article_options, add_config_option, app_config, pass_list
from voiceskill.errors import ConfigError, VoiceskillError
from voiceskill.settings import RecognizerConfig, WyomingConfig

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("wyoming", parents=[common], help="serve the coach to Home Assistant (Wyoming protocol)",
                       description="Serve the coach over the Wyoming protocol, as Home Assistant's "
                                   "Wyoming integration expects: a conversation agent (answers from the "
                                   "article), speech to text (the coach's ear) and text to speech (its "
                                   "voice). Settings come from flags, VOICESKILL_* environment variables "
                                   "and the config file ([wyoming] section).")
    p.add_argument("--uri", metavar="URI",
                   help=f"where to listen: tcp://HOST:PORT or unix://PATH (default {WyomingConfig().uri}; "
                        "use tcp://0.0.0.0:10700 for Home Assistant on another machine)")
    add_config_option(p)
    p.add_argument("--model", metavar="DIR", help="Vosk model directory")
    add_article_options(p)
    p.add_argument("--open-vocab", action="store_true",
                   help="hear any English word instead of only the words the coach knows")
    p.add_argument("--passes", type=pass_list, metavar="LIST",
                   help="comma-separated front ends each question is heard through (default from config: "
                        f"{','.join(RecognizerConfig().passes)})")
    p.add_argument("--no-tts", action="store_true", help="do not offer the coach's voice (text to speech)")
    p.add_argument("--zeroconf", nargs="?", const="voiceskill", metavar="NAME",
                   help="announce the service on the local network for Home Assistant's discovery "
                        "(mDNS; needs `pip install 'voiceskill[zeroconf]'`; tcp:// only)")
    p.set_defaults(func=run_wyoming)


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    return {"general.model": args.model, "general.article": args.article, "wyoming.uri": args.uri,
            "recognizer.passes": args.passes, "recognizer.grammar": False if args.open_vocab else None}


def run_wyoming(args: argparse.Namespace) -> int:
    started = time.monotonic()
    config = app_config(args, _overrides(args))
    if args.zeroconf is not None:
        if urlparse(config.wyoming.uri).scheme != "tcp":
            raise ConfigError("--zeroconf announces a TCP port: use --uri tcp://HOST:PORT")
        try:
            import zeroconf  # noqa: F401  (wyoming.zeroconf needs it)
        except ImportError:
            raise ConfigError("--zeroconf needs the zeroconf package: pip install 'voiceskill[zeroconf]'") from None
    from voiceskill.app import build_coach

    with build_coach(config, intents=args.intents, tts=not args.no_tts, debug=getattr(args, "debug", False)) as coach:
        # Everything loaded so far lives as long as the process: keep the garbage collector from
        # walking it again on every full collection while requests are served.
        gc.collect()
        gc.freeze()
        try:
            asyncio.run(_serve(coach, config.wyoming, args.zeroconf, started))
        except OSError as exc:  # the address is taken, not ours, or the socket directory is missing
            raise VoiceskillError(f"cannot listen on {config.wyoming.uri} ({exc.strerror or exc}); "
                                  "pick another --uri") from None
    return 0


async def _serve(coach: Any, config: WyomingConfig, zeroconf_name: str | None, started: float) -> None:
    from voiceskill.wyoming_server import WyomingServer

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    async with WyomingServer(coach, config) as server:
        if zeroconf_name is not None:
            await _announce(config.uri, zeroconf_name)
        programs = "handle, asr" + (", tts" if coach.synthesizer is not None else "")
        log.info("ready in %.0f ms: serving %s on %s (model %s, article %s)",
                 (time.monotonic() - started) * 1000, programs, config.uri, coach.model.path.name,
                 coach.router.article.source)
        await stop.wait()
        log.info("stopping (%d connections open)", server.connections)


async def _announce(uri: str, name: str) -> None:
    from wyoming.zeroconf import HomeAssistantZeroconf

    parsed = urlparse(uri)
    host = parsed.hostname if parsed.hostname not in ("0.0.0.0", "::", None) else None
    announcer = HomeAssistantZeroconf(port=int(parsed.port or 0), name=name, host=host)
    await announcer.register_server()
    log.info("announced as %s._wyoming._tcp.local. on %s:%s", name, announcer.host, parsed.port)
