#!/usr/bin/env bash
# Ferry's Kubernetes runtime side by side with kubectl, on the real test cluster
# (scripts/testbed/kube-cluster.sh: API server, controllers, scheduler and a kubelet on
# containerd, all on this machine), in a namespace of its own, in alternating rounds:
#   - a trivial Job from start to completion: `ferry run job.yaml` (attached: it returns
#     when the Job is complete, with its exit code and output) against
#     `kubectl create -f job.k8s.yaml` + `kubectl wait --for=condition=complete`;
#   - submission only: `ferry run -d` against `kubectl create -f`;
#   - `ferry render` against `kubectl create --dry-run=client -o yaml`.
#
#   benches/kube/bench.sh            # RUNS=20; writes benches/results/kube.md
#
# Needs: hyperfine, and the cluster (scripts/services/60-kube.sh, or kube-cluster.sh up).
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/lib.sh
RUNS=${RUNS:-20}
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
[ -f /run/ferry-kube/env ] || { echo "bench: no test cluster: run scripts/testbed/kube-cluster.sh up" >&2; exit 1; }
source /run/ferry-kube/env
[ -x "${FERRY_BIN:-}" ] || { cargo build --release -q -p ferry-cli; FERRY_BIN=$PWD/target/release/ferry; }
FERRY=$FERRY_BIN
KUBECTL=$FERRY_KUBECTL
admin() { "$KUBECTL" --kubeconfig "$FERRY_KUBE_ADMIN_KUBECONFIG" "$@"; }

ns=ferry-bench-$$
work=$(mktemp -d)
trap 'admin delete namespace "$ns" --wait=false >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
admin create namespace "$ns" >/dev/null
admin -n "$ns" create rolebinding bench --clusterrole edit --user ferry-test-user >/dev/null
sed "s/namespace: ferry-test/namespace: $ns/" "$FERRY_KUBE_USER_KUBECONFIG" > "$work/kubeconfig"
export KUBECONFIG=$work/kubeconfig XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data
"$FERRY" context create bench --runtime kubernetes --kubeconfig "$KUBECONFIG" --namespace "$ns" --use >/dev/null
cat > "$work/job.yaml" <<YAML
name: bench
image: $FERRY_KUBE_IMAGE
command: [echo, hello]
YAML
# kubectl gets the same Job, as Ferry renders it (generateName: a new Job each run).
"$FERRY" render --runtime kubernetes "$work/job.yaml" | sed "s/^  namespace: default$/  namespace: $ns/" > "$work/job.k8s.yaml"
cd "$work"
# Pull the image once, so neither side pays for it.
"$FERRY" run job.yaml >/dev/null

runs=$RUNS
rounds "$work/complete" -- \
    "ferry run (attached, until complete)" - "$FERRY run job.yaml" \
    "kubectl create + kubectl wait --for=condition=complete" - \
    "sh -c 'job=\$($KUBECTL create -f job.k8s.yaml -o name) && $KUBECTL wait --for=condition=complete --timeout=120s \$job >/dev/null'"
# Each submission needs a name of its own (the previous one may still run): both sides
# go through the same sh -c, which picks one.
rounds "$work/submit" -- \
    "ferry run -d (create the Job, record it)" - "sh -c '$FERRY run -d --name b\$\$ job.yaml'" \
    "kubectl create -f" - "sh -c '$KUBECTL create -f job.k8s.yaml -o name'"
rounds "$work/render" -- \
    "ferry render --runtime kubernetes" - "$FERRY render --runtime kubernetes job.yaml" \
    "kubectl create --dry-run=client -o yaml" - "$KUBECTL create --dry-run=client -o yaml -f job.k8s.yaml"
cd - >/dev/null

out=benches/results/kube.md
{
    echo "# Kubernetes runtime: Ferry against kubectl"
    echo
    echo "On the test cluster of \`scripts/testbed/kube-cluster.sh\` (Kubernetes $("$KUBECTL" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])'),"
    echo "one node, kubelet on containerd $(containerd --version | awk '{print $3}'), runc), on this project's 2-core machine, $(date -u +%Y-%m-%d)."
    echo "Made by \`benches/kube/bench.sh\` ($RUNS runs per command, in $ROUNDS rounds whose order alternates)."
    echo "Both sides submit the same Job (\`ferry render\`'s output is what kubectl creates); the image is pulled before timing."
    echo "\`ferry run\` returns when the pod has succeeded and its output is streamed (the workload's end);"
    echo "\`kubectl wait\` when the Job controller has marked the Job Complete after that."
    if [ -n "${BRINGUP:-}" ]; then echo "Cluster bring-up on this machine: $BRINGUP."; fi
    if [ -n "${NOTE:-}" ]; then echo "$NOTE"; fi
    echo
    echo "## A trivial Job, from start to completion"
    echo
    cat "$work/complete.md"
    echo
    echo "## Submission only"
    echo
    cat "$work/submit.md"
    echo
    echo "## Render (no cluster)"
    echo
    cat "$work/render.md"
} > "$out"
cat "$out"
