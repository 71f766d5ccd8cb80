#!/usr/bin/env bash
# Installs what cricket needs on Debian 12 and is missing; quick and
# silent when everything is there. `make run`, `make test` and .ci/run all
# go through it (make deps).
#
#   containerd, runc                 the managed containerd and the runc handler
#   containernetworking-plugins      CNI pod networking (network.mode = "cni")
#   iptables, iproute2               host ports and the built-in bridge
#   gcc, libc6-dev, pkg-config,      cricket's shim (cgo, linked statically)
#   libseccomp-dev                   and the race detector (gcc)
#   busybox-static                   the tests' images
set -euo pipefail

pkgs=(containerd runc containernetworking-plugins iptables iproute2
  gcc libc6-dev pkg-config libseccomp-dev busybox-static)

if ! command -v dpkg-query >/dev/null; then
  echo "install-deps: no dpkg-query: cricket's set-up is written for Debian 12; install the equivalents of: ${pkgs[*]}" >&2
  exit 1
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root (cricket needs root anyway)" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  # apt's output only when it fails (a first try without an update keeps a
  # machine whose package lists are current off the network).
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
      cat "$log" >&2
      echo "install-deps: could not install ${missing[*]}" >&2
      exit 1
    fi
  fi
fi
if ! command -v go >/dev/null; then
  echo "install-deps: no go in PATH: install Go 1.26 or newer (https://go.dev/dl) or add /usr/local/go/bin to PATH" >&2
  exit 1
fi
