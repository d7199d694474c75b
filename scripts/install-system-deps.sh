#!/usr/bin/env bash
# System packages the test suite needs, from Debian's packages: Chromium (browser tests),
# SoftHSM2 and OpenSC (the HSM tests), Graphviz (threat-model diagrams).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || missing+=(opensc)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x /usr/bin/chromium ] || { echo "Chromium is missing after install" >&2; exit 1; }
command -v softhsm2-util >/dev/null 2>&1 || { echo "SoftHSM2 is missing after install" >&2; exit 1; }
