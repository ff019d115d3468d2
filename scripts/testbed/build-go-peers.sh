#!/usr/bin/env bash
# Builds the test bed's Go peers from their Go modules, once per version:
#   Kubernetes (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl) and etcd.
# Each lands in $FERRY_TESTBED_CACHE/<name>-<version>/bin; a directory that is complete
# (it has a .done marker) is not built again. Ferry itself is Rust: Go only builds these peers.
#
#   scripts/testbed/build-go-peers.sh            # both
#   KUBE_VERSION=v1.34.4 ETCD_VERSION=v3.6.17 ...  # the versions (defaults below)
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.17}
FERRY_TESTBED_CACHE=${FERRY_TESTBED_CACHE:-/var/cache/ferry-testbed}
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
# The machines' Go lives in /usr/local/go; a shell that was not given it on PATH still finds it.
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "build-go-peers: no Go toolchain (go) found: the test peers are built with it" >&2; exit 1; }

now() { date +%s; }

# The Kubernetes module replaces its staging modules (k8s.io/api …) with directories of its own
# repository, so `go install k8s.io/kubernetes/cmd/…@v1.34.x` is refused. A wrapper module
# requires k8s.io/kubernetes and points each staging module at its published v0.<minor>.<patch>.
build_kubernetes() {
    local out="$FERRY_TESTBED_CACHE/kubernetes-$KUBE_VERSION"
    [ -f "$out/.done" ] && return 0
    local start; start=$(now)
    local staging_version="v0.${KUBE_VERSION#v1.}"
    local src; src=$(mktemp -d)
    (
        cd "$src"
        cat > go.mod <<MOD
module ferry.test/kubernetes-peers

go 1.24

require k8s.io/kubernetes $KUBE_VERSION
MOD
        local proxy; proxy=$(go env GOPROXY | cut -d, -f1)
        # The staging modules that k8s.io/kubernetes's own go.mod replaces.
        go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" > kube.json
        local kube_mod; kube_mod=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' kube.json)
        grep -o 'k8s.io/[a-z0-9-]* => ./staging' "$kube_mod" | awk '{print $1}' | sort -u > staging.txt
        while read -r m; do
            go mod edit -replace "$m=$m@$staging_version"
        done < staging.txt
        cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
        go mod tidy -e >/dev/null 2>&1 || true
        local pkg=k8s.io/component-base/version client=k8s.io/client-go/pkg/version
        local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
        local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
        local ldflags="-s -w"
        for p in $pkg $client; do
            ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
            ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
        done
        mkdir -p "$out/bin"
        go build -trimpath -ldflags "$ldflags" -o "$out/bin/" \
            k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
            k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl
    )
    rm -rf "$src"
    "$out/bin/kube-apiserver" --version
    echo "built Kubernetes $KUBE_VERSION in $(($(now) - start)) s"
    touch "$out/.done"
}

# etcd's server module also replaces its sibling modules with directories; the same wrapper trick.
build_etcd() {
    local out="$FERRY_TESTBED_CACHE/etcd-$ETCD_VERSION"
    [ -f "$out/.done" ] && return 0
    local start; start=$(now)
    local src; src=$(mktemp -d)
    (
        cd "$src"
        cat > go.mod <<MOD
module ferry.test/etcd-peer

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
        for m in api/v3 client/pkg/v3 client/v3 pkg/v3; do
            go mod edit -replace "go.etcd.io/etcd/$m=go.etcd.io/etcd/$m@$ETCD_VERSION"
        done
        printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
        go mod tidy -e >/dev/null 2>&1 || true
        mkdir -p "$out/bin"
        go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
            -o "$out/bin/etcd" go.etcd.io/etcd/server/v3
    )
    rm -rf "$src"
    "$out/bin/etcd" --version | head -1
    echo "built etcd $ETCD_VERSION in $(($(now) - start)) s"
    touch "$out/.done"
}

case "${1:-all}" in
    kubernetes) build_kubernetes ;;
    etcd) build_etcd ;;
    all) build_etcd; build_kubernetes ;;
    *) echo "usage: $0 [all|kubernetes|etcd]" >&2; exit 2 ;;
esac
