#!/usr/bin/env bash
# Builds the local control plane's binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok, helm) from their official Go modules, pinned by the go.mod files beside
# this script, into a cache outside the repo. The cache key is a hash of those go.mod/go.sum files
# and the Go version, so a second call is a no-op and a version bump builds a fresh set.
# Prints the bin directory on stdout (progress goes to stderr).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The compilers' own output goes to this log (the caller names it); progress goes to stderr.
log="${CHAOSRUN_SETUP_LOG:-/dev/null}"
fail() { echo "build.sh: $*" >&2; echo "build.sh: $*" >>"$log"; exit 1; }
command -v go >/dev/null || fail "Go is required to build the local control plane (https://go.dev)"

key="$( (go env GOVERSION; cat "$here"/*/go.mod "$here"/*/go.sum "$here/build.sh") | sha256sum | cut -c1-16)"
cache="${CHAOSRUN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chaosrun-operator}/controlplane/$key"
bin="$cache/bin"
mkdir -p "$bin"
# Concurrent callers (parallel test files, a bench next to the tests) wait for one build.
exec 9>"$cache/.build.lock"
flock 9

# The Kubernetes version the binaries report: read from the pinned module, never typed twice.
modversion() { (cd "$here/$1" && GOFLAGS=-mod=mod go list -m -f '{{.Version}}' "$2" 2>>"$log"); }
k8s="$(modversion kube k8s.io/kubernetes)"
[ -n "$k8s" ] || fail "cannot read the pinned k8s.io/kubernetes version"
major="${k8s#v}"; major="${major%%.*}"
minor="$(echo "$k8s" | cut -d. -f2)"
vpkg=k8s.io/component-base/version
kube_ldflags="-s -w -X $vpkg.gitVersion=$k8s -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"

# How each binary says its version; a binary that cannot is not used from the cache.
version_flag() { case "$1" in kubectl) echo "version --client";; helm) echo "version --short";; pause) echo "-v";; *) echo "--version";; esac; }
runs() { local f=$1 n; n=$(basename "${f%.tmp}"); [ -x "$f" ] && [ -s "$f" ] && timeout 20 "$f" $(version_flag "$n") >/dev/null 2>&1; }

export CGO_ENABLED=0 GOFLAGS=-mod=mod

build() { # name module-dir package [ldflags]
  local name=$1 dir=$2 pkg=$3 ldflags=${4:--s -w}
  if [ -e "$bin/$name" ]; then
    # A cached binary is used only if it runs; a truncated or foreign file is rebuilt.
    if runs "$bin/$name"; then return 0; fi
    echo "cache: $bin/$name does not run (\`$name $(version_flag "$name")\` failed); rebuilding it" >&2
    rm -f "$bin/$name"
  fi
  local start=$SECONDS
  echo "control plane: building $name ($pkg) ..." >&2
  (cd "$here/$dir" && go build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg" >>"$log" 2>&1) \
    || fail "go build $pkg failed: $(tail -n 1 "$log")"
  runs "$bin/$name.tmp" || fail "the new $name does not run ($(version_flag "$name"))"
  mv "$bin/$name.tmp" "$bin/$name"
  echo "control plane: built $name in $((SECONDS - start))s" >&2
}

build etcd etcd go.etcd.io/etcd/server/v3
build kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kube-controller-manager kube k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build kube-scheduler kube k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags"
build kubectl kube k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
build kwok kwok sigs.k8s.io/kwok/cmd/kwok
# helm's Makefile stamps the Kubernetes version it was built against; without it, helm assumes v1.20.
helm_k8s="$(modversion helm k8s.io/client-go)"; helm_k8s_minor="$(echo "$helm_k8s" | cut -d. -f2)"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$(modversion helm helm.sh/helm/v3)"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags="$helm_ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done
build helm helm helm.sh/helm/v3/cmd/helm "$helm_ldflags"
echo "$k8s" > "$cache/kubernetes-version"
echo "$bin"
