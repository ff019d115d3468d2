#!/usr/bin/env bash
# A real single-node Kubernetes cluster for Ferry's tests, with no systemd and nothing
# fetched from the internet:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubelet, built from
#   their Go modules (scripts/testbed/build-go-peers.sh, cached by version);
#   a containerd of its own (Debian's, on its own socket and state), runc, Debian's CNI
#   plugins on a bridge; a pause image built here from Debian's static catatonit and
#   pushed with an MLCube task image to the test registry on 127.0.0.1:5000, where the
#   tests' busybox image is (scripts/services/30-oci.sh).
#
#   scripts/testbed/kube-cluster.sh up     # build (once), start, wait until the node is Ready
#   scripts/testbed/kube-cluster.sh down   # stop everything, remove pods, mounts and cgroups
#   scripts/testbed/kube-cluster.sh env    # the variables the tests read (also in $KUBE_RUN/env)
#
# Everything listens on this machine only: etcd on 127.0.0.1:23790, the API server on
# 127.0.0.1:6443, the kubelet on the node's address 198.18.255.1:10250 (added to lo).
# Pods get addresses on a bridge in 198.18.0.0/24 (198.18.0.0/15 is reserved for benchmarking
# networks, so nothing outside this machine answers it); Services get 198.19.0.0/16.
#
# Users (certificates from openssl, RBAC in $KUBE_ETC/rbac.yaml):
#   admin.kubeconfig        system:masters (the test helpers create namespaces and volumes with it)
#   user.kubeconfig         ferry-test-user, a client certificate; `edit` in the namespaces a test
#                           grants it (the ferry-test namespace by default), nothing elsewhere
#   token.kubeconfig        a ServiceAccount's bearer token with the same rights
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh

KUBE_VERSION=${KUBE_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.17}
FERRY_TESTBED_CACHE=${FERRY_TESTBED_CACHE:-/var/cache/ferry-testbed}
KUBE_BIN=$FERRY_TESTBED_CACHE/kubernetes-$KUBE_VERSION/bin
ETCD_BIN=$FERRY_TESTBED_CACHE/etcd-$ETCD_VERSION/bin
KUBE_ETC=/etc/ferry-kube
KUBE_PKI=$KUBE_ETC/pki
KUBE_VAR=/var/lib/ferry-kube
KUBE_RUN=/run/ferry-kube
KUBE_LOG=/var/log/ferry-kube
REGISTRY=${FERRY_REGISTRY:-127.0.0.1:5000}
PAUSE_IMAGE=$REGISTRY/ferry-test/pause:1
TEST_IMAGE=$REGISTRY/ferry-test/busybox:1
MLCUBE_IMAGE=$REGISTRY/ferry-test/mlcube-task:1
NODE=ferry-node
# The node's address, added to lo: a kubelet refuses 127.0.0.1 as its node IP.
NODE_IP=198.18.255.1
API=https://127.0.0.1:6443
CONTAINERD_SOCK=$KUBE_RUN/containerd.sock

kubectl_admin() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBE_ETC/admin.kubeconfig" "$@"; }

# --- certificates --------------------------------------------------------------------------
# cert NAME SUBJECT [SANS]: a key and a certificate signed by the cluster's CA.
cert() {
    local name=$1 subject=$2 sans=${3:-}
    [ -s "$KUBE_PKI/$name.crt" ] && return 0
    openssl genrsa -out "$KUBE_PKI/$name.key" 2048 2>/dev/null
    openssl req -new -key "$KUBE_PKI/$name.key" -subj "$subject" -out "$KUBE_PKI/$name.csr"
    local ext="$KUBE_PKI/$name.ext"
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        if [ -n "$sans" ]; then
            echo "extendedKeyUsage=serverAuth,clientAuth"
            echo "subjectAltName=$sans"
        else
            echo "extendedKeyUsage=clientAuth"
        fi
    } > "$ext"
    openssl x509 -req -in "$KUBE_PKI/$name.csr" -CA "$KUBE_PKI/ca.crt" -CAkey "$KUBE_PKI/ca.key" \
        -CAcreateserial -days 3650 -sha256 -extfile "$ext" -out "$KUBE_PKI/$name.crt" 2>/dev/null
    rm -f "$KUBE_PKI/$name.csr" "$ext"
}

# kubeconfig FILE USER CREDENTIALS [NAMESPACE]: a kubeconfig for USER, whose CREDENTIALS are
# the flow-style YAML of a kubeconfig user ({client-certificate: …} or {token: …}).
kubeconfig() {
    local file=$1 name=$2 credentials=$3 namespace=${4:-default}
    cat > "$file" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: ferry-test
  cluster: {server: $API, certificate-authority: $KUBE_PKI/ca.crt}
users:
- name: $name
  user: $credentials
contexts:
- name: ferry-test
  context: {cluster: ferry-test, user: $name, namespace: $namespace}
current-context: ferry-test
YAML
    chmod 600 "$file"
}

# cert_kubeconfig FILE CERT [NAMESPACE]: a kubeconfig for the client certificate CERT.
cert_kubeconfig() {
    kubeconfig "$1" "$2" "{client-certificate: $KUBE_PKI/$2.crt, client-key: $KUBE_PKI/$2.key}" "${3:-default}"
}

make_pki() {
    mkdir -p "$KUBE_PKI"
    chmod 700 "$KUBE_PKI"
    if [ ! -s "$KUBE_PKI/ca.crt" ]; then
        openssl genrsa -out "$KUBE_PKI/ca.key" 2048 2>/dev/null
        openssl req -x509 -new -key "$KUBE_PKI/ca.key" -subj "/CN=ferry-test-ca" -days 3650 -sha256 \
            -out "$KUBE_PKI/ca.crt"
    fi
    [ -s "$KUBE_PKI/sa.key" ] || openssl genrsa -out "$KUBE_PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$KUBE_PKI/sa.key" -pubout -out "$KUBE_PKI/sa.pub" 2>/dev/null
    cert apiserver "/CN=kube-apiserver" \
        "IP:127.0.0.1,IP:198.19.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
    cert admin "/O=system:masters/CN=ferry-admin"
    cert controller-manager "/CN=system:kube-controller-manager"
    cert scheduler "/CN=system:kube-scheduler"
    cert kubelet "/O=system:nodes/CN=system:node:$NODE"
    cert kubelet-serving "/CN=$NODE" "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE,DNS:localhost"
    cert user "/O=ferry-testers/CN=ferry-test-user"
    cert_kubeconfig "$KUBE_ETC/admin.kubeconfig" admin
    cert_kubeconfig "$KUBE_ETC/controller-manager.kubeconfig" controller-manager
    cert_kubeconfig "$KUBE_ETC/scheduler.kubeconfig" scheduler
    cert_kubeconfig "$KUBE_ETC/kubelet.kubeconfig" kubelet
    cert_kubeconfig "$KUBE_ETC/user.kubeconfig" user ferry-test
}

# --- images --------------------------------------------------------------------------------
images() {
    local dir; dir=$(mktemp -d)
    # The sandbox image every pod starts with: Debian's static catatonit in pause mode (-P),
    # which sleeps, reaps and exits on SIGTERM, as the upstream pause binary does.
    mkdir -p "$dir/pause"
    cp /usr/bin/catatonit "$dir/pause/pause"
    push_image "$PAUSE_IMAGE" "$dir/pause" '{"Entrypoint":["/pause","-P"],"User":"65535:65535"}'
    # An MLCube task image, as MLCube runners expect one: the ENTRYPOINT is the program and
    # the runner appends --<param>=<path> for each binding. It counts the lines of
    # data_dir/input.txt into model_dir/lines.txt, or exits with the code in data_dir/fail.
    busybox_rootfs "$dir/mlcube"
    cat > "$dir/mlcube/task.sh" <<'SH'
#!/bin/sh
for arg in "$@"; do
    case "$arg" in
        --data_dir=*) data=${arg#*=} ;;
        --model_dir=*) model=${arg#*=} ;;
    esac
done
echo "task: data_dir=$data model_dir=$model"
if [ -f "$data/fail" ]; then
    echo "task: failing as $data/fail asks" >&2
    exit "$(cat "$data/fail")"
fi
wc -l < "$data/input.txt" > "$model/lines.txt"
echo "task: wrote $model/lines.txt"
SH
    chmod 755 "$dir/mlcube/task.sh"
    push_image "$MLCUBE_IMAGE" "$dir/mlcube" '{"Entrypoint":["/task.sh"],"Env":["PATH=/bin"]}'
    rm -rf "$dir"
}

# --- configuration files -----------------------------------------------------------------------
write_configs() {
    mkdir -p "$KUBE_ETC/cni" "$KUBE_VAR" "$KUBE_RUN" "$KUBE_LOG"
    cat > "$KUBE_ETC/containerd.toml" <<TOML
# containerd for the test cluster's kubelet, apart from the one dockerd uses.
version = 2
root = "$KUBE_VAR/containerd"
state = "$KUBE_RUN/containerd"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Sandboxes like this machine's drop CAP_SYS_RESOURCE, so no process may lower its
  # oom_score_adj (the kubelet asks -998 for pod sandboxes); keep it at containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$KUBE_RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$KUBE_ETC/cni"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REGISTRY"]
    endpoint = ["http://$REGISTRY"]
TOML
    cat > "$KUBE_ETC/cni/10-ferry-kube.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "ferry-kube",
  "plugins": [
    {"type": "bridge", "bridge": "ferrykube0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.0.0/24"}]], "routes": [{"dst": "198.18.0.0/24"}]}}
  ]
}
JSON
    cat > "$KUBE_ETC/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $KUBE_PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $KUBE_PKI/kubelet-serving.crt
tlsPrivateKeyFile: $KUBE_PKI/kubelet-serving.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
# This machine mounts cgroup v1 (with a v2 hierarchy beside it); 1.34 still runs there.
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
rotateCertificates: false
shutdownGracePeriod: 0s
syncFrequency: 10s
YAML
    cat > "$KUBE_ETC/rbac.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: ferry-test}
---
apiVersion: v1
kind: Namespace
metadata: {name: ferry-forbidden}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ferry-test-token, namespace: ferry-test}
---
# The test user may do in ferry-test what a developer of a team may do (the built-in
# "edit" role: workloads, services, claims, logs, port-forward), and nothing elsewhere.
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ferry-test-users, namespace: ferry-test}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: ferry-test-user}
- {kind: ServiceAccount, name: ferry-test-token, namespace: ferry-test}
YAML
}

# --- processes -------------------------------------------------------------------------------
# start NAME COMMAND...: run a daemon in the background, its pid in $KUBE_RUN/NAME.pid.
start() {
    local name=$1
    shift
    if [ -f "$KUBE_RUN/$name.pid" ] && kill -0 "$(cat "$KUBE_RUN/$name.pid")" 2>/dev/null; then
        return 0
    fi
    nohup "$@" >"$KUBE_LOG/$name.log" 2>&1 &
    echo $! > "$KUBE_RUN/$name.pid"
}

# stop NAME: TERM, then KILL after 10 s.
stop() {
    local pidfile="$KUBE_RUN/$1.pid" pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

fail_with_log() {
    echo "kube-cluster: $1 did not come up; the end of $KUBE_LOG/$2.log:" >&2
    tail -n 40 "$KUBE_LOG/$2.log" >&2
    exit 1
}

api_ready() { curl -fsS --cacert "$KUBE_PKI/ca.crt" --cert "$KUBE_PKI/admin.crt" --key "$KUBE_PKI/admin.key" "$API/readyz" >/dev/null; }
node_ready() {
    kubectl_admin get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True
}

up() {
    local t0 t1 t2
    t0=$(date +%s)
    scripts/testbed/build-go-peers.sh all
    t1=$(date +%s)
    make_pki
    write_configs
    images

    # A fresh cluster each time: no state from an earlier run (certificates and builds are kept).
    if ! [ -f "$KUBE_RUN/apiserver.pid" ] || ! api_ready 2>/dev/null; then
        down_processes
        rm -rf "$KUBE_VAR/etcd" /var/lib/cni/networks/ferry-kube
    fi

    start etcd "$ETCD_BIN/etcd" --name ferry-test --data-dir "$KUBE_VAR/etcd" \
        --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
        --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
        --initial-cluster ferry-test=http://127.0.0.1:23800 --listen-metrics-urls http://127.0.0.1:23810 \
        --unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn
    wait_for etcd 30 curl -fsS http://127.0.0.1:23810/health || fail_with_log etcd etcd

    start apiserver "$KUBE_BIN/kube-apiserver" --etcd-servers http://127.0.0.1:23790 \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port 6443 \
        --tls-cert-file "$KUBE_PKI/apiserver.crt" --tls-private-key-file "$KUBE_PKI/apiserver.key" \
        --client-ca-file "$KUBE_PKI/ca.crt" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$KUBE_PKI/sa.pub" --service-account-signing-key-file "$KUBE_PKI/sa.key" \
        --service-cluster-ip-range 198.19.0.0/16 --authorization-mode Node,RBAC \
        --kubelet-client-certificate "$KUBE_PKI/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$KUBE_PKI/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority "$KUBE_PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
        --enable-admission-plugins NodeRestriction --allow-privileged=true --profiling=false \
        --endpoint-reconciler-type none --v 1
    wait_for kube-apiserver 90 api_ready || fail_with_log kube-apiserver apiserver

    start controller-manager "$KUBE_BIN/kube-controller-manager" \
        --kubeconfig "$KUBE_ETC/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$KUBE_ETC/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$KUBE_ETC/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
        --service-account-private-key-file "$KUBE_PKI/sa.key" --root-ca-file "$KUBE_PKI/ca.crt" \
        --cluster-signing-cert-file "$KUBE_PKI/ca.crt" --cluster-signing-key-file "$KUBE_PKI/ca.key" \
        --controllers '*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle' --v 1
    start scheduler "$KUBE_BIN/kube-scheduler" --kubeconfig "$KUBE_ETC/scheduler.kubeconfig" \
        --authentication-kubeconfig "$KUBE_ETC/scheduler.kubeconfig" \
        --authorization-kubeconfig "$KUBE_ETC/scheduler.kubeconfig" \
        --bind-address 127.0.0.1 --leader-elect=false --v 1

    ip addr replace "$NODE_IP/32" dev lo
    start containerd containerd --config "$KUBE_ETC/containerd.toml"
    # Its answer, not the socket file: a containerd that was killed leaves a stale one.
    wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version || fail_with_log containerd containerd
    start kubelet "$KUBE_BIN/kubelet" --config "$KUBE_ETC/kubelet.yaml" \
        --kubeconfig "$KUBE_ETC/kubelet.kubeconfig" --hostname-override "$NODE" --node-ip "$NODE_IP" \
        --root-dir "$KUBE_VAR/kubelet" --cert-dir "$KUBE_PKI/kubelet-certs" --v 1
    wait_for "the node $NODE" 120 node_ready || fail_with_log "the kubelet (node Ready)" kubelet

    kubectl_admin apply -f "$KUBE_ETC/rbac.yaml" >/dev/null
    # `edit` is an aggregated role: the controller manager fills in its rules a few seconds
    # after it starts; until then the test user may do nothing.
    wait_for "the test user's rights (the aggregated edit role)" 60 \
        kubectl_admin auth can-i create jobs.batch --as ferry-test-user -n ferry-test \
        || fail_with_log "the aggregated edit role" controller-manager
    local token
    token=$(kubectl_admin -n ferry-test create token ferry-test-token --duration 24h)
    kubeconfig "$KUBE_ETC/token.kubeconfig" ferry-test-token "{token: $token}" ferry-test
    write_env
    t2=$(date +%s)
    echo "kube-cluster: Kubernetes $KUBE_VERSION up (builds $((t1 - t0)) s, bring-up $((t2 - t1)) s)"
}

write_env() {
    cat > "$KUBE_RUN/env" <<ENV
export FERRY_KUBE_ADMIN_KUBECONFIG=$KUBE_ETC/admin.kubeconfig
export FERRY_KUBE_USER_KUBECONFIG=$KUBE_ETC/user.kubeconfig
export FERRY_KUBE_TOKEN_KUBECONFIG=$KUBE_ETC/token.kubeconfig
export FERRY_KUBE_NAMESPACE=ferry-test
export FERRY_KUBE_FORBIDDEN_NAMESPACE=ferry-forbidden
export FERRY_KUBE_TEST_USER=ferry-test-user
export FERRY_KUBE_IMAGE=$TEST_IMAGE
export FERRY_KUBE_MLCUBE_IMAGE=$MLCUBE_IMAGE
export FERRY_KUBE_VOLUMES=$KUBE_VAR/volumes
export FERRY_KUBECTL=$KUBE_BIN/kubectl
ENV
    mkdir -p "$KUBE_VAR/volumes"
}

# Stop the daemons, then take down what the kubelet left: pod sandboxes and their shims,
# mounts under the kubelet's and containerd's directories, the pods' cgroups, the bridge.
down_processes() {
    stop kubelet
    if [ -S "$CONTAINERD_SOCK" ]; then
        local c
        for c in $(ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
        done
        sleep 0.5
        for c in $(ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true
        done
        for c in $(ctr --address "$CONTAINERD_SOCK" -n k8s.io containers ls -q 2>/dev/null); do
            ctr --address "$CONTAINERD_SOCK" -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
        done
    fi
    stop containerd
    pkill -9 -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null || true
    stop scheduler
    stop controller-manager
    stop apiserver
    stop etcd
    local m
    for m in $(awk -v a="$KUBE_VAR/" -v b="$KUBE_RUN/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    for m in /var/run/netns/cni-*; do
        [ -e "$m" ] || continue
        umount "$m" 2>/dev/null || true
        rm -f "$m"
    done
    local controller
    for controller in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods; do
        [ -d "$controller" ] || continue
        find "$controller" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    ip link delete ferrykube0 2>/dev/null || true
    ip addr del "$NODE_IP/32" dev lo 2>/dev/null || true
    rm -rf "$KUBE_VAR/kubelet/pods" /var/lib/cni/networks/ferry-kube
}

down() {
    down_processes
    echo "kube-cluster: down"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    env) write_env; cat "$KUBE_RUN/env" ;;
    *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
