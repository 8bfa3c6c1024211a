#!/usr/bin/env bash
# Install Milo's satellite on Raspberry Pi OS (bookworm or newer, 64-bit), from a checkout:
#
#   git clone <this repository> milo && cd milo && sudo satellite/install.sh
#
# It checks the OS and Python, installs the Debian packages, creates /opt/milo/venv,
# installs the satellite (compiling dlib for fast face recognition, or taking the prebuilt
# wheels), detects the microphone, speaker, camera and servo board, writes
# /etc/milo/satellite.yaml with an encryption key, and starts the systemd unit. Running it
# again changes nothing you chose (the key included); --uninstall removes it.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: sudo satellite/install.sh [options]
  --faces compiled|prebuilt|none  face recognition: compile dlib (about 5x faster, needs a
                                  compiler and 20+ minutes), the prebuilt wheels, or none
                                  (default: ask; without a terminal, compiled when a
                                  compiler and 2 GB of memory are there, else prebuilt)
  --name NAME                     device name for a new config (default: milo)
  --yes                           never ask
  --no-start                      install the unit but do not start it
  --dry-run                       print what would be done, change nothing
  --uninstall                     stop and remove the service and the venv (keeps
                                  /etc/milo and /var/lib/milo; --purge removes them too)
EOF
}

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${MILO_PREFIX:-/opt/milo}"
CONFIG="${MILO_CONFIG:-/etc/milo/satellite.yaml}"
OS_RELEASE="${MILO_OS_RELEASE:-/etc/os-release}"
UNIT=/etc/systemd/system/milo-satellite.service
# Lets the milo user power the Pi off (the power button); the unit rules out sudo.
POLKIT_RULE=/etc/polkit-1/rules.d/50-milo-poweroff.rules
FACES="" NAME="" YES=0 START=1 DRY=0 UNINSTALL=0 PURGE=0
BASE_PACKAGES=(python3-venv python3-dev alsa-utils ffmpeg i2c-tools v4l-utils polkitd)
BUILD_PACKAGES=(build-essential cmake libopenblas-dev liblapack-dev)

while (($#)); do
    case "$1" in
        --faces) FACES="${2:-}"; shift ;;
        --name) NAME="${2:-}"; shift ;;
        --yes|-y) YES=1 ;;
        --no-start) START=0 ;;
        --dry-run) DRY=1 ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) UNINSTALL=1; PURGE=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

say() { printf '\n[milo] %s\n' "$*"; }
die() { printf '[milo] error: %s\n' "$*" >&2; exit 1; }
run() {  # every change goes through here, so --dry-run shows them all
    if ((DRY)); then printf '  would run: %s\n' "$*"; else "$@"; fi
}
have_systemd() { [[ -d /run/systemd/system ]]; }

check_system() {
    [[ -r "$OS_RELEASE" ]] || die "cannot read $OS_RELEASE: is this Raspberry Pi OS?"
    # shellcheck disable=SC1090
    local id codename
    id="$(. "$OS_RELEASE" && echo "${ID:-}")"
    codename="$(. "$OS_RELEASE" && echo "${VERSION_CODENAME:-}")"
    case "$id" in debian|raspbian) ;; *) die "needs Raspberry Pi OS or Debian, found '$id'" ;; esac
    case "$codename" in
        bullseye|buster|stretch) die "needs bookworm or newer (Python 3.11), found $codename" ;;
    esac
    local arch; arch="$(uname -m)"
    if [[ "$arch" != aarch64 ]]; then
        [[ "$arch" == armv7l || "$arch" == armv6l ]] && die "needs the 64-bit OS (found $arch)"
        echo "[milo] note: $arch is not a Pi; going on (the satellite runs on any Linux)"
    fi
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "needs Python 3.11 or newer, found $(python3 --version 2>&1)"
    ((DRY)) || ((EUID == 0)) || die "run it with sudo (it installs packages and a service)"
}

choose_faces() {
    [[ -n "$FACES" ]] && { case "$FACES" in compiled|prebuilt|none) return ;; esac
        die "--faces must be compiled, prebuilt or none"; }
    local memory_kb; memory_kb="$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
    local suggested=prebuilt
    ((memory_kb >= 1900000)) && suggested=compiled
    if ((YES)) || [[ ! -t 0 ]]; then FACES="$suggested"; return; fi
    echo "Face recognition: 'compiled' builds dlib here (about 5x faster recognition;"
    echo "20+ minutes, a Pi with 2 GB wants swap), 'prebuilt' takes ready wheels, 'none'"
    read -r -p "skips it. Which one? [$suggested] " FACES
    FACES="${FACES:-$suggested}"
    choose_faces
}

install_packages() {
    local packages=("${BASE_PACKAGES[@]}")
    [[ "$FACES" == compiled ]] && packages+=("${BUILD_PACKAGES[@]}")
    say "Debian packages: ${packages[*]}"
    run apt-get update -q
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
}

create_user() {
    if id milo >/dev/null 2>&1; then
        say "user milo exists"
    else
        say "creating the system user milo"
        run useradd --system --home-dir /var/lib/milo --shell /usr/sbin/nologin milo
    fi
    local group
    for group in audio video gpio i2c; do
        if getent group "$group" >/dev/null; then run usermod -a -G "$group" milo; fi
    done
}

install_venv() {
    local extras="vision,pca9685,gpio"
    case "$FACES" in
        compiled) extras+=",faces" ;;
        prebuilt) extras+=",faces-prebuilt" ;;
    esac
    if [[ ! -x "$PREFIX/venv/bin/python" ]]; then
        say "creating $PREFIX/venv"
        run python3 -m venv "$PREFIX/venv"
    fi
    if [[ "$FACES" == compiled ]]; then
        say "dlib compiles now: about 20 minutes on 2 cores (pip's output follows)"
    fi
    say "installing the satellite [$extras]"
    run "$PREFIX/venv/bin/pip" install --upgrade pip
    run "$PREFIX/venv/bin/pip" install "$REPO/satellite[$extras]"
}

write_config() {
    say "detecting the hardware and writing $CONFIG"
    local args=(write --config "$CONFIG")
    [[ -n "$NAME" ]] && args+=(--name "$NAME")
    run "$PREFIX/venv/bin/milo-satellite-config" "${args[@]}"
    run chown root:milo "$CONFIG"
    run chmod 0640 "$CONFIG"
}

install_unit() {
    say "installing the systemd unit"
    run install -m 0644 "$REPO/satellite/systemd/milo-satellite.service" "$UNIT"
    run install -D -m 0644 "$REPO/satellite/systemd/50-milo-poweroff.rules" "$POLKIT_RULE"
    if ! have_systemd; then
        echo "[milo] no systemd running here: start it with $PREFIX/venv/bin/milo-satellite --config $CONFIG"
        return
    fi
    run systemctl daemon-reload
    if ((START)); then
        run systemctl enable milo-satellite
        run systemctl restart milo-satellite
        say "running: journalctl -u milo-satellite -f shows its log"
    else
        run systemctl enable milo-satellite
    fi
}

uninstall() {
    say "removing Milo's satellite"
    if have_systemd; then
        run systemctl disable --now milo-satellite || true
    fi
    run rm -f "$UNIT" "$POLKIT_RULE"
    have_systemd && run systemctl daemon-reload
    run rm -rf "$PREFIX"
    if ((PURGE)); then
        run rm -rf "$(dirname "$CONFIG")" /var/lib/milo
        id milo >/dev/null 2>&1 && run userdel milo
        say "removed the config, the buddies and the milo user too"
    else
        say "kept $CONFIG (its key) and /var/lib/milo (buddies); --purge removes them"
    fi
}

check_system
if ((UNINSTALL)); then
    uninstall
    exit 0
fi
choose_faces
install_packages
create_user
install_venv
write_config
install_unit
say "done"
