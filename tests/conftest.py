"""Shared test set-up.

Tests that need the Vosk model, eSpeak NG, PortAudio devices or other outside parts call
:func:`require`. On a user's machine that lacks the part the test skips; with
``VOICESKILL_STRICT=1`` (set by ``.ci/run``) every skip is turned into a failure, so CI can
never pass by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
STRICT = os.environ.get("VOICESKILL_STRICT", "") not in ("", "0")


def require(ok: object, what: str) -> None:
    """Skip the calling test unless ``ok`` is truthy; ``what`` says what is missing and how to get it."""
    if not ok:
        pytest.skip(f"needs {what}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped in strict mode (VOICESKILL_STRICT=1): {reason}"
    return report
