#!/usr/bin/env python3
"""Write voiceskill/data/common-words.txt: the most frequent English words (wordfreq), a grammar
landing place for everyday speech (see voiceskill/grammar.py). A developer tool, not a runtime
dependency: run it in any environment that has `pip install wordfreq`.

Usage: python3 scripts/common-words.py [N]   (default 2000)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from wordfreq import top_n_list

OUT = Path(__file__).resolve().parent.parent / "voiceskill" / "data" / "common-words.txt"


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    words = [w for w in top_n_list("en", n) if re.fullmatch(r"[a-z]+(?:'[a-z]+)?", w)]
    from importlib.metadata import version

    header = (f"# The {n} most frequent English words (wordfreq {version('wordfreq')}, "
              "top_n_list('en'); data CC BY-SA 4.0),\n# written by scripts/common-words.py. In grammar "
              "mode they let everyday speech be heard as itself\n# instead of as the article's words.\n")
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(header + "\n".join(words) + "\n")
    tmp.replace(OUT)
    print(f"{len(words)} words -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
