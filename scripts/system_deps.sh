#!/usr/bin/env bash
# Install the Debian packages the tests need when they are missing:
# chromium (browser tests, driven by Playwright without a browser download) and
# docker-compose (validates docker-compose.yml; no Docker engine is needed), npm (axe-core for the
# browser journeys' accessibility checks).
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v npm >/dev/null || missing+=(npm)  # installs axe-core, the browser journeys' WCAG checker
# `system_deps.sh bench` also installs wrk, the load generator of bench/wizard.py, and HAProxy,
# the balancer in front of bench/cluster.py's web nodes.
if [ "${1:-}" = "bench" ]; then
  command -v wrk >/dev/null || missing+=(wrk)
  command -v haproxy >/dev/null || missing+=(haproxy)
fi
# kubectl renders deploy/k8s with its built-in kustomize (v5: components); the machine image ships it.
# Debian's kubernetes-client (1.20, kustomize v2) is too old for that, so it is not a substitute.
command -v kubectl >/dev/null || echo "kubectl is missing: tests/deploy render deploy/k8s with 'kubectl kustomize' (see deploy/k8s/README.md)" >&2
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
