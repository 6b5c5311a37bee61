#!/usr/bin/env bash
# Prepare this machine for kubeloop: Debian packages, a virtualenv with kubeloop and its test tools.
# Idempotent: a second run only checks. Needs root for apt-get (kubeloop itself needs root for namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

# nftables: service data plane; nginx-light: ingress data plane; dnsutils: dig/nslookup inside pods and
# in tests; iproute2: namespaces and links; curl/openssl: what the user types; wrk: benchmarks;
# conntrack: the service proxy removes stale UDP flows when endpoints change.
DEB_PACKAGES=(nftables nginx-light dnsutils iproute2 curl openssl procps wrk conntrack)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts nginx on install; kubeloop runs its own nginx, so the system one must not hold :80.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true; fi
  $SUDO pkill -x nginx >/dev/null 2>&1 || true
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.kubeloop-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing kubeloop and its test tools into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi
