#!/usr/bin/env bash
# Make sure the Vosk English model is installed in the per-user data dir
# (~/.local/share/voiceskill/models/vosk-model-en-0.3.45 on Linux). Used by CI and dev setup.
#
# Idempotent: exits 0 at once when a complete model is already there. Otherwise it fetches
# the model AAR from Maven (com.alphacephei:vosk-model-en) into a cache outside the checkout
# and installs it with `voiceskill model install` (atomic, checked, with a manifest).
#
# Env: PYTHON (default python3), VOICESKILL_MODEL_VERSION (default 0.3.45),
#      XDG_CACHE_HOME (cache: ${XDG_CACHE_HOME:-$HOME/.cache}/voiceskill).
# Prints one line saying what it did. With --aar: only caches the AAR and prints its path.
set -euo pipefail

PYTHON=${PYTHON:-python3}
version=${VOICESKILL_MODEL_VERSION:-0.3.45}
name="vosk-model-en-$version"
me=fetch-model
# shellcheck source=maven.sh
source "$(dirname "${BASH_SOURCE[0]}")/maven.sh"

aar="$cache/$name.aar"
fetch() { maven_copy "com.alphacephei:vosk-model-en:$version:aar" "voiceskill model download"; }

if [[ ${1:-} == --aar ]]; then  # only make sure the AAR is cached, and print its path (tests install it)
    [[ -s $aar ]] || fetch
    echo "$aar"
    exit 0
fi

dest=$("$PYTHON" -c 'from voiceskill.models import user_models_dir; print(user_models_dir())')
if voiceskill model path --model "$dest/$name" >/dev/null 2>&1; then
    echo "fetch-model: $name already installed at $dest/$name"
    exit 0
fi

[[ -s $aar ]] || fetch
# --force: a model of that name that is there but incomplete is replaced; a complete one
# was handled above.
if ! voiceskill model install "$aar" --dest "$dest" --force >/dev/null; then
    echo "fetch-model: cached $aar did not install; fetching it again" >&2
    rm -f "$aar"
    fetch
    voiceskill model install "$aar" --dest "$dest" --force >/dev/null
fi
echo "fetch-model: installed $name at $dest/$name from $aar"
