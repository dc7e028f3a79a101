#!/usr/bin/env bash
# Installs the Debian packages named as arguments that are not installed yet (apt-get update first,
# as root or through sudo). Shared by setup-debian.sh (build and tests) and setup-peers.sh
# (benchmark peers).
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
