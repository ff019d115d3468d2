# Kubernetes runtime tests: no cluster can run here, so they use
#  - kubernetes-validate (PyPI): the official Kubernetes JSON schemas, to validate rendered manifests;
#  - aiohttp (PyPI): for the stateful API emulator the tests start
#    (crates/runtimes/kube/testing/kube_emulator.py, one per test, on 127.0.0.1).
# Installed once into a venv; exported as FERRY_KUBE_PYTHON for the tests.
if [ -z "${FERRY_SKIP_KUBE_TESTS:-}" ]; then
    apt_install python3 python3-venv
    FERRY_KUBE_VENV=${FERRY_KUBE_VENV:-/opt/ferry-test/kube-venv}
    if ! "$FERRY_KUBE_VENV/bin/python" -c 'import kubernetes_validate, aiohttp, yaml' >/dev/null 2>&1; then
        log "installing kubernetes-validate and aiohttp into $FERRY_KUBE_VENV"
        mkdir -p "$(dirname "$FERRY_KUBE_VENV")"
        python3 -m venv "$FERRY_KUBE_VENV"
        "$FERRY_KUBE_VENV/bin/pip" install -q --disable-pip-version-check 'kubernetes-validate>=1.34' 'aiohttp>=3.9' PyYAML
    fi
    "$FERRY_KUBE_VENV/bin/python" -c 'import kubernetes_validate, aiohttp, yaml' || {
        echo "scripts/test: the Kubernetes test tools did not install into $FERRY_KUBE_VENV" >&2
        exit 1
    }
    FERRY_KUBE_PYTHON="$FERRY_KUBE_VENV/bin/python"
    export FERRY_KUBE_PYTHON
fi
