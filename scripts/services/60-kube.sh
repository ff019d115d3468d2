# Kubernetes runtime tests:
#  - a real single-node cluster (scripts/testbed/kube-cluster.sh: etcd and Kubernetes built
#    from their Go modules and cached by version, a kubelet on containerd), torn down by
#    scripts/test when the run ends; it exports FERRY_KUBE_* (see $KUBE_RUN/env);
#  - kubernetes-validate (PyPI) in a venv, to check rendered manifests against the official
#    JSON schemas without a cluster; exported as FERRY_KUBE_PYTHON.
# Set FERRY_SKIP_KUBE_TESTS=1 to skip the Kubernetes tests knowingly instead.
if [ -n "${FERRY_SKIP_KUBE_TESTS:-}" ]; then
    log "FERRY_SKIP_KUBE_TESTS is set: no Kubernetes cluster"
    return 0
fi
apt_install python3 python3-venv containerd runc containernetworking-plugins catatonit busybox-static \
    skopeo openssl curl iproute2
FERRY_KUBE_VENV=${FERRY_KUBE_VENV:-/opt/ferry-test/kube-venv}
if ! "$FERRY_KUBE_VENV/bin/python" -c 'import kubernetes_validate, yaml' >/dev/null 2>&1; then
    log "installing kubernetes-validate into $FERRY_KUBE_VENV"
    mkdir -p "$(dirname "$FERRY_KUBE_VENV")"
    python3 -m venv "$FERRY_KUBE_VENV"
    "$FERRY_KUBE_VENV/bin/pip" install -q --disable-pip-version-check 'kubernetes-validate>=1.34' PyYAML
fi
"$FERRY_KUBE_VENV/bin/python" -c 'import kubernetes_validate, yaml' || {
    echo "scripts/test: kubernetes-validate did not install into $FERRY_KUBE_VENV" >&2
    exit 1
}
FERRY_KUBE_PYTHON="$FERRY_KUBE_VENV/bin/python"
export FERRY_KUBE_PYTHON

if ! scripts/testbed/kube-cluster.sh up; then
    echo "scripts/test: the Kubernetes test cluster did not come up (logs in /var/log/ferry-kube)." >&2
    echo "             Set FERRY_SKIP_KUBE_TESTS=1 to skip the Kubernetes tests knowingly." >&2
    exit 1
fi
FERRY_KUBE_CLUSTER_UP=1
source /run/ferry-kube/env
