#!/bin/sh
# Installs the Debian packages rackpower builds and tests with, if any is missing.
# As root it runs apt-get; otherwise it prints the sudo line to run and fails.
# `deps.sh fuzz` adds clang and its libFuzzer runtime (make fuzz only).
set -eu
PKGS="build-essential cmake pkg-config libyaml-dev libjansson-dev libcmocka-dev
libmodbus-dev libuv1-dev libmicrohttpd-dev libsqlite3-dev libsystemd-dev libcurl4-gnutls-dev mbpoll socat
mandoc python3-pymodbus python3-serial-asyncio libgnutls28-dev curl openssl systemd nftables
nut-server nut-client libupsclient-dev openipmi libfreeipmi-dev"
[ "${1:-}" = fuzz ] && PKGS="$PKGS clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || { sleep 5; apt-get update -qq; }
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: run: sudo apt-get install -y$missing" >&2
    exit 1
fi
