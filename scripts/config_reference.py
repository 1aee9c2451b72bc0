#!/usr/bin/env python3
"""Write docs/config.md, the configuration reference, from voiceskill/settings.py.

    .venv/bin/python scripts/config_reference.py          # rewrite docs/config.md
    .venv/bin/python scripts/config_reference.py --check  # exit 1 if it is out of date

tests/test_docs.py fails when the file is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from voiceskill.config import render_reference  # noqa: E402
from voiceskill.files import replacing  # noqa: E402

TARGET = REPO / "docs" / "config.md"


def main() -> int:
    text = render_reference() + "\n"
    if "--check" in sys.argv[1:]:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run {Path(__file__).relative_to(REPO)}", file=sys.stderr)
            return 1
        return 0
    with replacing(TARGET) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
