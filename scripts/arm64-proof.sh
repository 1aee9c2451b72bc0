#!/usr/bin/env bash
# Proof that voiceskill runs on arm64 (Raspberry Pi class hardware), under qemu user emulation.
#
# Builds (once, cached outside the checkout) a Debian bookworm arm64 root filesystem with
# debootstrap --foreign + qemu-aarch64-static, installs python3/espeak-ng/libportaudio2 in it,
# pip-installs this checkout (third-party arm64 wheels from PyPI), copies in the Vosk model and
# a spoken question WAV rendered on the host, runs `voiceskill listen --json` inside the chroot,
# and checks the answer is on the "causes" topic (regex from /work/shared/eval/topics.tsv).
# The result is written to scripts/arm64-proof.md. Exit 0 = proof passed.
#
# Usage (as root):  scripts/arm64-proof.sh [--only-run] [--rebuild]
#   --only-run   only reinstall the checkout and rerun the proof (fail if the root is not built yet);
#                without it, missing steps are built first (finished steps are always cached)
#   --rebuild    delete the cached root filesystem first
# Environment:
#   VOICESKILL_ARM64_CACHE  cache dir (default ${XDG_CACHE_HOME:-/var/cache}/voiceskill-arm64)
#   DEBIAN_MIRROR           mirror URL (default: first Debian URI in /etc/apt/sources.list*)
#   VOICESKILL_MODEL_DIR    model dir (default ~/.local/share/voiceskill/models/vosk-model-en-0.3.45)
#   QUESTION                question text (default "why do my glutes keep cramping")
# Needs (Debian): debootstrap qemu-user-static binfmt-support espeak-ng sox
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
CACHE="${VOICESKILL_ARM64_CACHE:-${XDG_CACHE_HOME:-/var/cache}/voiceskill-arm64}"
ROOT="$CACHE/root"
STAMPS="$CACHE/stamps"
SUITE=bookworm
MODEL_NAME=vosk-model-en-0.3.45
MODEL_DIR="${VOICESKILL_MODEL_DIR:-$HOME/.local/share/voiceskill/models/$MODEL_NAME}"
QUESTION="${QUESTION:-why do my glutes keep cramping}"
# libatomic1: libvosk.so (aarch64 wheel) links it; Raspberry Pi OS has it, minbase Debian does not.
PACKAGES="python3 python3-venv python3-pip espeak-ng libportaudio2 libatomic1 ca-certificates"
TOPICS=/work/shared/eval/topics.tsv
RESULT_MD="$HERE/arm64-proof.md"
ONLY_RUN=0
REBUILD=0
for a in "$@"; do
    case "$a" in
        --only-run) ONLY_RUN=1 ;;
        --rebuild) REBUILD=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "arm64-proof: unknown option $a (see --help)" >&2; exit 2 ;;
    esac
done

say() { printf '[arm64-proof %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
declare -A TIMES=()
ORDER=()
always() {  # always NAME FUNCTION: run every time, timed
    local name="$1" fn="$2" t0 t1
    say "$name: start"
    t0=$(date +%s)
    "$fn"
    t1=$(date +%s)
    TIMES[$name]=$((t1 - t0))
    ORDER+=("$name")
    say "$name: done in $((t1 - t0)) s"
}
step() {  # step NAME FUNCTION: run once, remembered (with its duration) in a stamp file
    if [[ -e "$STAMPS/$1" ]]; then
        TIMES[$1]="$(cat "$STAMPS/$1") (cached)"
        ORDER+=("$1")
        say "$1: cached"
        return 0
    fi
    always "$1" "$2"
    echo "${TIMES[$1]}" >"$STAMPS/$1"
}

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot, mount): run with sudo"
for tool in debootstrap qemu-aarch64-static chroot espeak-ng sox; do
    command -v "$tool" >/dev/null || die "$tool not found: sudo apt install debootstrap qemu-user-static binfmt-support espeak-ng sox"
done
[[ -f "$MODEL_DIR/conf/model.conf" || -f "$MODEL_DIR/am/final.mdl" ]] \
    || die "model not found at $MODEL_DIR: run 'voiceskill model download' or set VOICESKILL_MODEL_DIR"


mirror() {
    if [[ -n "${DEBIAN_MIRROR:-}" ]]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    uri=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
            /etc/apt/sources.list.d/*.list 2>/dev/null \
          | grep -oE 'https?://[^ ]*/debian/?' | grep -v security | head -n1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR="$(mirror)"

# --- binfmt_misc: the kernel must run arm64 ELF files through qemu (needed for dpkg's children)
ensure_binfmt() {
    if [[ ! -e /proc/sys/fs/binfmt_misc/status ]]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
            || die "binfmt_misc is not available (container without it?): run on a host/VM with binfmt_misc, or use a real arm64 machine"
    fi
    if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
        if command -v update-binfmts >/dev/null && update-binfmts --enable qemu-aarch64 2>/dev/null \
                && [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
            :
        else
            # Register directly; F = open the interpreter now, so it also works inside the chroot.
            echo ':qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:OCF' \
                > /proc/sys/fs/binfmt_misc/register || die "cannot register qemu-aarch64 with binfmt_misc"
        fi
    fi
    grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "binfmt qemu-aarch64 is disabled: update-binfmts --enable qemu-aarch64"
}

MOUNTED=()
mount_all() {
    local m
    for m in proc sys dev; do mkdir -p "$ROOT/$m"; done
    mountpoint -q "$ROOT/proc" || { mount -t proc proc "$ROOT/proc"; MOUNTED+=("$ROOT/proc"); }
    mountpoint -q "$ROOT/sys" || { mount -t sysfs sysfs "$ROOT/sys"; MOUNTED+=("$ROOT/sys"); }
    mountpoint -q "$ROOT/dev" || { mount --bind /dev "$ROOT/dev"; MOUNTED+=("$ROOT/dev"); }
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
}
umount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTED[$i]}" 2>/dev/null || true; done
    MOUNTED=()
}
trap umount_all EXIT

in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
    PIP_CERT=/etc/ssl/certs/host-ca-certificates.crt "$@"; }

stage1() {
    debootstrap --arch=arm64 --foreign --variant=minbase "$SUITE" "$ROOT" "$MIRROR"
    cp /usr/bin/qemu-aarch64-static "$ROOT/usr/bin/"
}
stage2() {
    chroot "$ROOT" /debootstrap/debootstrap --second-stage
}
packages() {
    echo "deb $MIRROR $SUITE main" > "$ROOT/etc/apt/sources.list"
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca-certificates.crt" 2>/dev/null \
        || { mkdir -p "$ROOT/etc/ssl/certs"; cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca-certificates.crt"; }
    in_root apt-get -o Acquire::Check-Valid-Until=false update
    in_root apt-get install -y --no-install-recommends $PACKAGES
    in_root python3 -m venv /opt/voiceskill
}
deps() {
    # Third-party dependencies only (arm64 wheels from PyPI); the checkout itself is in app().
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca-certificates.crt"
    in_root /opt/voiceskill/bin/pip install --prefer-binary \
        "numpy>=1.24" "vosk>=0.3.45" "pyttsx3>=2.90" "sounddevice>=0.4.6" "platformdirs>=3"
}
model() {
    mkdir -p "$ROOT/root/.local/share/voiceskill/models"
    rm -rf "$ROOT/root/.local/share/voiceskill/models/$MODEL_NAME"
    cp -a "$MODEL_DIR" "$ROOT/root/.local/share/voiceskill/models/$MODEL_NAME"
}
app() {
    rm -rf "$ROOT/opt/src/voiceskill"
    mkdir -p "$ROOT/opt/src/voiceskill"
    tar -C "$REPO" --exclude=.git --exclude=models --exclude='*.egg-info' --exclude=build \
        --exclude=__pycache__ --exclude=.pytest_cache -cf - . | tar -C "$ROOT/opt/src/voiceskill" -xf -
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca-certificates.crt"
    in_root /opt/voiceskill/bin/pip install --prefer-binary --no-build-isolation /opt/src/voiceskill \
        || in_root /opt/voiceskill/bin/pip install --prefer-binary /opt/src/voiceskill
}
wav() {
    local tmp
    tmp="$(mktemp -d)"
    espeak-ng -v en-us -s 165 -w "$tmp/raw.wav" "$QUESTION"
    sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 "$ROOT/root/question.wav"
    rm -rf "$tmp"
}

OUT_JSON="$CACHE/listen.json"
OUT_ERR="$CACHE/listen.stderr"
proof() {
    in_root /usr/bin/uname -m | grep -qx aarch64 || die "chroot is not running aarch64 code"
    local t0 t1 rc=0
    t0=$(date +%s%N)
    in_root /opt/voiceskill/bin/voiceskill listen --json /root/question.wav >"$OUT_JSON" 2>"$OUT_ERR" || rc=$?
    t1=$(date +%s%N)
    LISTEN_MS=$(((t1 - t0) / 1000000))
    LISTEN_RC=$rc
}

if [[ $REBUILD -eq 1 ]]; then
    say "removing cached root $ROOT"
    for m in dev sys proc; do umount -l "$ROOT/$m" 2>/dev/null || true; done
    rm -rf "$ROOT" "$STAMPS"
fi
mkdir -p "$ROOT" "$STAMPS"

ensure_binfmt
if [[ $ONLY_RUN -eq 1 && ! -e "$STAMPS/deps" ]]; then
    die "nothing cached yet in $CACHE: run once without --only-run"
fi
step stage1 stage1       # cached steps are skipped (and their build time reported)
mount_all
step stage2 stage2
step "packages-$(md5sum <<<"$PACKAGES" | cut -c1-8)" packages  # re-run when the list changes
step deps deps
step model model
always app app
always wav wav
always proof proof

ARCH_PY=$(in_root /opt/voiceskill/bin/python -c 'import platform,sys; print(platform.machine(), sys.version.split()[0])')
VOSK_VER=$(in_root /opt/voiceskill/bin/python -c 'import importlib.metadata as m; print(m.version("vosk"))' 2>/dev/null || echo "?")
CAUSES_RE=$(awk -F'\t' '$1=="causes"{print $2}' "$TOPICS")
[[ -n "$CAUSES_RE" ]] || die "no 'causes' regex in $TOPICS"

mapfile -t FIELDS < <(python3 - "$OUT_JSON" <<'EOF'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read().strip()
obj = {}
for line in reversed(text.splitlines()):  # last JSON object on stdout
    try:
        obj = json.loads(line); break
    except ValueError:
        continue
if not obj and text:
    try: obj = json.loads(text)
    except ValueError: obj = {}
def find(o, keys):
    if isinstance(o, dict):
        for k in keys:
            if isinstance(o.get(k), str): return o[k]
        for v in o.values():
            r = find(v, keys)
            if r: return r
    return ""
t = find(obj, ["transcript", "text", "heard"])
a = find(obj, ["answer", "answer_text", "reply", "spoken"])
timing = {k: v for k, v in obj.items()
          if (isinstance(v, (int, float)) and not isinstance(v, bool)) or k.startswith("timing")} if isinstance(obj, dict) else {}
print(json.dumps(t)); print(json.dumps(a)); print(json.dumps(timing))
EOF
)
TRANSCRIPT=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]))' "${FIELDS[0]:-\"\"}")
ANSWER=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]))' "${FIELDS[1]:-\"\"}")
EXTRA="${FIELDS[2]:-}"

VERDICT=FAIL
if [[ $LISTEN_RC -eq 0 ]] && grep -qiE "$CAUSES_RE" <<<"$ANSWER"; then VERDICT=PASS; fi

{
    echo "# arm64 proof — last result"
    echo
    echo "Generated by \`scripts/arm64-proof.sh\` (do not edit by hand)."
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- Host: $(uname -m), $(nproc) CPUs; guest: Debian $SUITE arm64 chroot under qemu-aarch64-static (binfmt_misc)"
    echo "- Guest python/arch: $ARCH_PY; vosk $VOSK_VER; mirror $MIRROR"
    echo "- Question WAV: espeak-ng en-us \"$QUESTION\" (16 kHz mono)"
    echo "- Command: \`voiceskill listen --json /root/question.wav\` (exit code $LISTEN_RC)"
    echo "- **Result: $VERDICT** (answer must match causes regex \`$CAUSES_RE\`)"
    echo
    echo "Transcript: \`$TRANSCRIPT\`"
    echo
    echo "Answer:"
    echo
    echo "> $ANSWER"
    echo
    echo "Timings in seconds (wall clock on the host, under emulation; "cached" = measured when that step was built):"
    echo
    echo "| step | s |"
    echo "|---|---|"
    for k in "${ORDER[@]}"; do
        [[ $k != proof ]] && echo "| $k | ${TIMES[$k]} |"
    done
    echo "| listen (process start → answer) | $(awk -v ms="$LISTEN_MS" 'BEGIN{printf "%.1f", ms/1000}') |"
    echo
    echo "Numbers reported by \`listen --json\` (inside the emulated process): \`$EXTRA\`"
    if [[ $VERDICT != PASS ]]; then
        echo
        echo "stderr (last 20 lines):"
        echo
        echo '```'
        tail -n 20 "$OUT_ERR"
        echo '```'
    fi
} >"$RESULT_MD"

say "transcript: $TRANSCRIPT"
say "answer: $ANSWER"
say "result: $VERDICT (written to $RESULT_MD)"
[[ $VERDICT == PASS ]]
