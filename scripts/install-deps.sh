#!/bin/sh
# Installs the Debian packages the build needs, only those missing.
# Runs apt-get through sudo when not root. Idempotent and quiet when all is there.
set -eu
pkgs="libssl-dev libuv1-dev libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev libjansson-dev
libyaml-dev libxml2-dev libncurses-dev tmux chromium fonts-dejavu-core
libcriterion-dev pkg-config cmake make gcc"
[ "${KKS_FUZZ:-0}" = 1 ] && pkgs="$pkgs clang libclang-rt-14-dev"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
