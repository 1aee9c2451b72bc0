# Shared by scripts/fetch-model.sh and scripts/fetch-meaning.sh (sourced, not run): the set-up
# both need and one Maven fetch. The sourcing script sets PYTHON and `me` (its name, for messages).
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/voiceskill"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"  # works from a checkout without pip install

voiceskill() { "$PYTHON" -m voiceskill -q "$@"; }

# maven_copy ARTIFACT OTHERWISE: copy the Maven artifact into $cache; on failure say so, with
# OTHERWISE (what the user can do instead), and exit 1
maven_copy() {
    command -v mvn >/dev/null || { echo "$me: mvn not found (apt install maven); or run: $2" >&2; exit 1; }
    mkdir -p "$cache"
    local out
    if ! out=$(mvn -B -q dependency:copy "-Dartifact=$1" "-DoutputDirectory=$cache" 2>&1); then
        printf '%s\n' "$out" >&2
        echo "$me: mvn could not fetch $1; or run: $2" >&2
        exit 1
    fi
}
