#!/usr/bin/env bash
# Ferry's Kubernetes runtime side by side with kubectl, against the test suite's
# stateful API emulator on 127.0.0.1 (no real cluster can run here, so these
# numbers are client-side costs: process start, kubeconfig, request building,
# one or two HTTP round trips; not scheduling or pod start-up). kubectl runs with
# --validate=false: the emulator serves no OpenAPI document.
#
#   benches/kube/bench.sh        # writes benches/results/kube.md
#
# Needs: hyperfine, kubectl (Debian: kubernetes-client), and the venv from
# scripts/services/60-kube.sh (FERRY_KUBE_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${FERRY_KUBE_PYTHON:-/opt/ferry-test/kube-venv/bin/python}
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "bench: needs kubectl (apt-get install kubernetes-client)" >&2; exit 1; }
cargo build --release -q -p ferry-cli
FERRY=$PWD/target/release/ferry

work=$(mktemp -d)
trap 'kill $emu_pid 2>/dev/null || true; rm -rf "$work"' EXIT
mkfifo "$work/stdin"
"$PY" crates/runtimes/kube/testing/kube_emulator.py < "$work/stdin" > "$work/emu.out" &
emu_pid=$!
exec 3>"$work/stdin"   # keeps the emulator's stdin open until we exit
for _ in $(seq 50); do grep -q listening "$work/emu.out" 2>/dev/null && break; sleep 0.1; done
port=$(awk '{print $3}' "$work/emu.out")
cat > "$work/kubeconfig" <<YAML
apiVersion: v1
kind: Config
current-context: emu
clusters: [{name: emu, cluster: {server: "http://127.0.0.1:$port"}}]
contexts: [{name: emu, context: {cluster: emu, user: emu, namespace: bench}}]
users: [{name: emu, user: {}}]
YAML
export KUBECONFIG=$work/kubeconfig XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data
"$FERRY" context create bench --runtime kubernetes --kubeconfig "$KUBECONFIG" --use >/dev/null
cat > "$work/job.yaml" <<YAML
name: bench
image: busybox
command: [echo, hello]
resources: {cpus: 1, memory: 256Mi}
YAML
"$FERRY" render --runtime kubernetes "$work/job.yaml" > "$work/job.k8s.yaml"
cd "$work"

hyperfine -N --warmup 3 --runs 30 --export-markdown render.md \
    -n "ferry render --runtime kubernetes" "$FERRY render --runtime kubernetes job.yaml" \
    -n "kubectl create --dry-run=client -o yaml" "kubectl create --validate=false --dry-run=client -o yaml -f job.k8s.yaml"
hyperfine --warmup 3 --runs 30 --export-markdown submit.md \
    -n "ferry run -d (create Job, record state)" "$FERRY run -d --name b\$(date +%s%N) job.yaml" \
    -n "kubectl create -f (create Job)" "kubectl create --validate=false -f job.k8s.yaml"
hyperfine -N --warmup 3 --runs 30 --export-markdown list.md \
    -n "ferry ps -a (list + refresh every workload)" "$FERRY ps -a" \
    -n "kubectl get jobs -l managed-by=ferry" "kubectl get jobs -l app.kubernetes.io/managed-by=ferry"
jobs=$(kubectl get jobs -o name | wc -l)
cd - >/dev/null

{
    echo "# Kubernetes runtime: Ferry vs kubectl"
    echo
    echo "Against the stateful API emulator on 127.0.0.1 (no cluster can run here), so"
    echo "these are client-side costs. Machine: $(nproc) cores; $(date -u +%Y-%m-%d);"
    echo "$(kubectl version --client 2>/dev/null | head -1). Made by \`benches/kube/bench.sh\`."
    echo "\`ferry run -d\` also records the workload in Ferry's SQLite store; \`ferry ps -a\`"
    echo "reads the status of each of the $jobs Jobs the emulator holds at the end (one GET of the Job and one LIST of its pods each)."
    echo
    echo "## Render"; echo; cat "$work/render.md"; echo
    echo "## Submit a Job"; echo; cat "$work/submit.md"; echo
    echo "## List"; echo; cat "$work/list.md"
} > benches/results/kube.md
echo "wrote benches/results/kube.md"
