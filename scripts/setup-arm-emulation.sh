#!/usr/bin/env bash
# Set up ARM parity checks without a board (zoo.verify.arm): qemu-user-static, Debian's arm64
# package lists, and the emulated-Python root with the aarch64 ncnn and numpy wheels, cached under
# $ZOO_CACHE (default ~/.cache/zoo) in arm64-root/<ncnn version>.
#
# Idempotent and fast when already done (well under a second): each step checks before it acts.
# Cold, it takes about 30 s and 130 MB (qemu-user-static, then ~25 MB of downloads).
# Needs Debian/Ubuntu, root (or sudo) for apt-get, and the project's Python with ncnn installed:
# $PYTHON, else .venv/bin/python, else python3.
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ "$(uname -s)" != Linux || "$(uname -m)" != x86_64 ]]; then
    echo "setup-arm-emulation: ARM emulation is set up for x86_64 Linux only; this is $(uname -sm)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "setup-arm-emulation: needs Debian's apt-get (qemu-user-static and arm64 python3.11 come from Debian)" >&2
    exit 1
fi

SUDO=()
if [[ $EUID -ne 0 ]]; then
    if command -v sudo >/dev/null; then SUDO=(sudo); else
        echo "setup-arm-emulation: run as root (apt-get install and dpkg --add-architecture need it)" >&2
        exit 1
    fi
fi
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0)

updated=0
if ! command -v qemu-aarch64-static >/dev/null; then
    echo "setup-arm-emulation: installing qemu-user-static"
    "${APT[@]}" update >/dev/null
    updated=1
    "${APT[@]}" install -y --no-install-recommends qemu-user-static >/dev/null
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "setup-arm-emulation: adding the arm64 architecture to dpkg"
    "${SUDO[@]}" dpkg --add-architecture arm64
    updated=0
fi
# apt-get download of :arm64 packages needs the arm64 package lists.
if [[ $updated -eq 0 ]] && ! compgen -G "/var/lib/apt/lists/*_binary-arm64_Packages*" >/dev/null; then
    echo "setup-arm-emulation: apt-get update (arm64 package lists)"
    "${APT[@]}" update >/dev/null
fi

PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
root="$("$PY" -m zoo.verify.arm ensure-root)"
echo "setup-arm-emulation: ARM root ready at $root"
