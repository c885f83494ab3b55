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
# As root, apt-get itself; otherwise through sudo. env passes DEBIAN_FRONTEND on:
# sudo clears the caller's environment, and a package that asks a question
# (tzdata, on a bare machine) would wait for an answer nobody gives.
as_root="env DEBIAN_FRONTEND=noninteractive"
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "these Debian packages are missing:$missing" >&2
		echo "install them as root (apt-get install$missing), or install sudo" >&2
		exit 1
	fi
	as_root="sudo $as_root"
fi
$as_root apt-get update -qq
# shellcheck disable=SC2086
$as_root apt-get install -y -qq --no-install-recommends $missing
