#!/usr/bin/env bash
# Builds what the local plane's real node runs on top of Debian's containerd and runc: kubelet and
# kube-proxy from the same pinned k8s.io/kubernetes wrapper module as the control plane (same version
# stamping), and the sandbox's `pause` binary compiled (static) from the pause.c that module ships.
# A separate script and cache from build.sh, so a plane without a real node never pays for these.
# Prints the bin directory on stdout (progress goes to stderr).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The compilers' own output goes to this log (the caller names it); progress goes to stderr.
log="${CHAOSRUN_SETUP_LOG:-/dev/null}"
fail() { echo "build-node.sh: $*" >&2; echo "build-node.sh: $*" >>"$log"; exit 1; }
command -v go >/dev/null || fail "Go is required to build the kubelet (https://go.dev)"
command -v cc >/dev/null || fail "a C compiler (cc) is required to build the pause binary"

key="$( (go env GOVERSION; cat "$here/kube/go.mod" "$here/kube/go.sum" "$here/build-node.sh") | sha256sum | cut -c1-16)"
cache="${CHAOSRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chaosrun-operator}/node/$key"
bin="$cache/bin"
mkdir -p "$bin"
exec 9>"$cache/.build.lock"
flock 9

# How each binary says its version; a binary that cannot is not used from the cache.
version_flag() { case "$1" in kubectl) echo "version --client";; helm) echo "version --short";; pause) echo "-v";; *) echo "--version";; esac; }
runs() { local f=$1 n; n=$(basename "${f%.tmp}"); [ -x "$f" ] && [ -s "$f" ] && timeout 20 "$f" $(version_flag "$n") >/dev/null 2>&1; }

export CGO_ENABLED=0 GOFLAGS=-mod=mod
k8s="$(cd "$here/kube" && go list -m -f '{{.Version}}' k8s.io/kubernetes 2>>"$log")"
[ -n "$k8s" ] || fail "cannot read the pinned k8s.io/kubernetes version"
major="${k8s#v}"; major="${major%%.*}"
minor="$(echo "$k8s" | cut -d. -f2)"
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=$k8s -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"

build() { # name package
  local name=$1 pkg=$2
  if [ -e "$bin/$name" ]; then
    # A cached binary is used only if it runs; a truncated or foreign file is rebuilt.
    if runs "$bin/$name"; then return 0; fi
    echo "cache: $bin/$name does not run (\`$name $(version_flag "$name")\` failed); rebuilding it" >&2
    rm -f "$bin/$name"
  fi
  local start=$SECONDS
  echo "real node: building $name ($pkg) ..." >&2
  (cd "$here/kube" && go build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg" >>"$log" 2>&1) \
    || fail "go build $pkg failed: $(tail -n 1 "$log")"
  runs "$bin/$name.tmp" || fail "the new $name does not run ($(version_flag "$name"))"
  mv "$bin/$name.tmp" "$bin/$name"
  echo "real node: built $name in $((SECONDS - start))s" >&2
}

build kubelet k8s.io/kubernetes/cmd/kubelet
build kube-proxy k8s.io/kubernetes/cmd/kube-proxy
if [ -e "$bin/pause" ] && ! runs "$bin/pause"; then
  echo "cache: $bin/pause does not run (pause -v failed); rebuilding it" >&2
  rm -f "$bin/pause"
fi
if [ ! -e "$bin/pause" ]; then
  src="$(cd "$here/kube" && go list -m -f '{{.Dir}}' k8s.io/kubernetes 2>>"$log")/build/pause/linux/pause.c"
  echo "real node: compiling pause from $src" >&2
  cc -Os -static -DVERSION="$k8s" -o "$bin/pause.tmp" "$src" >>"$log" 2>&1 || fail "cc pause.c failed: $(tail -n 1 "$log")"
  strip "$bin/pause.tmp" 2>/dev/null || true
  runs "$bin/pause.tmp" || fail "the new pause does not run (-v)"
  mv "$bin/pause.tmp" "$bin/pause"
fi
echo "$k8s" > "$cache/kubernetes-version"
echo "$bin"
