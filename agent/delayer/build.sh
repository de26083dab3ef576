#!/usr/bin/env bash
# Builds chaosrun-delayer (the node agent's NFQUEUE packet delayer, this directory's Go module, its
# dependencies pinned by go.mod and go.sum) into the project's cache, outside the repo. The cache key
# is a hash of the Go version, go.mod, go.sum, the sources and this script, so a second call is a
# no-op and any change builds afresh. A binary is used from the cache only if `--version` runs; a new
# one is written under a temporary name, checked the same way, and renamed into place.
# Prints the bin directory on stdout (progress goes to stderr; the compiler's output to
# CHAOSRUN_SETUP_LOG, which the caller names).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log="${CHAOSRUN_SETUP_LOG:-/dev/null}"
fail() { echo "delayer/build.sh: $*" >&2; echo "delayer/build.sh: $*" >>"$log"; exit 1; }
command -v go >/dev/null || fail "Go is required to build chaosrun-delayer (https://go.dev)"

sources=("$here/go.mod" "$here/go.sum" "$here/build.sh")
for f in "$here"/*.go; do [[ $f == *_test.go ]] || sources+=("$f"); done
key="$( (go env GOVERSION; for f in "${sources[@]}"; do echo "${f##*/}"; cat "$f"; done) | sha256sum | cut -c1-16)"
cache="${CHAOSRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chaosrun-operator}/delayer/$key"
bin="$cache/bin"
mkdir -p "$bin"
# Concurrent callers (test files in parallel, an image build) wait for one build.
exec 9>"$cache/.build.lock"
flock 9

runs() { [ -x "$1" ] && [ -s "$1" ] && timeout 20 "$1" --version >/dev/null 2>&1; }
name=chaosrun-delayer
if [ -e "$bin/$name" ]; then
  if runs "$bin/$name"; then echo "$bin"; exit 0; fi
  echo "cache: $bin/$name does not run (\`$name --version\` failed); rebuilding it" >&2
  rm -f "$bin/$name"
fi
# The project's version (package.json) and the key: what `--version` says.
version="$(sed -n 's/^  "version": "\([^"]*\)",$/\1/p' "$here/../../package.json" | head -n 1)"
start=$SECONDS
echo "delayer: building $name ..." >&2
(cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -X main.version=${version:-0}+$key" -o "$bin/$name.tmp" . >>"$log" 2>&1) \
  || fail "go build failed: $(tail -n 1 "$log")"
runs "$bin/$name.tmp" || fail "the new $name does not run (--version)"
mv "$bin/$name.tmp" "$bin/$name"
echo "delayer: built $name in $((SECONDS - start))s" >&2
echo "$bin"
