#!/usr/bin/env bash
# OCI runtime benchmark: whole-process, side by side, in one run.
#
#   1. trivial container start-to-exit (`true` in the busybox test image):
#      ferry run (crun, runc)  vs  crun run / runc run on a prepared bundle
#      vs  docker run --rm
#   2. pull of a ~200 MB image (one incompressible layer) from the local
#      registry: ferry image pull  vs  skopeo copy to an OCI layout
#
# Needs root, the local registry (scripts/services/20-registry.sh) and the
# OCI prerequisites (scripts/services/30-oci.sh); installs hyperfine and
# docker.io and starts dockerd if it is not running. Writes
# benches/results/oci.md. Not run in CI.
#
#   BASELINE=/path/to/older/ferry BASELINE_LABEL="commit abc123" benches/oci/run.sh
#
# also times an older Ferry build's crun start, back to back, in the same run
# (this machine's speed drifts: compare builds within one run, not across runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
source scripts/lib.sh
source benches/lib.sh
apt_install hyperfine docker.io skopeo runc crun
: "${FERRY_REGISTRY:=127.0.0.1:5000}"
image="$FERRY_REGISTRY/ferry-test/busybox:1"
big="$FERRY_REGISTRY/ferry-test/big:1"
runs=${RUNS:-30}

cargo build --release -p ferry-cli
ferry=$repo/target/release/ferry
work=$(mktemp -d /var/tmp/ferry-bench-oci.XXXXXX)
trap 'rm -rf "$work"' EXIT

if ! docker info >/dev/null 2>&1; then
    # The Docker runtime's service script starts containerd and dockerd.
    source scripts/services/40-docker.sh
fi
docker pull -q "$image" >/dev/null

# An isolated Ferry installation with one context per OCI runtime binary.
# Exported, not passed through `env`, so the timed commands are Ferry alone.
export XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data
for rt in crun runc; do
    "$ferry" context create "$rt" --runtime oci --oci-runtime "$rt" >/dev/null
done
"$ferry" image pull "$image" >/dev/null
printf 'image: %s\nname: bench\ncommand: ["true"]\n' "$image" > "$work/true.yaml"

# A prepared bundle for the bare runtimes: the same rootfs, runc's default spec running `true`.
mkdir -p "$work/bundle/rootfs"
skopeo copy --quiet --src-tls-verify=false "docker://$image" "oci:$work/layout:1"
for layer in $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(" ".join(l["digest"].split(":")[1] for l in m["layers"]))' \
        "$work/layout/blobs/sha256/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"].split(":")[1])' "$work/layout/index.json")"); do
    tar -xf "$work/layout/blobs/sha256/$layer" -C "$work/bundle/rootfs"
done
bare_bundle runc "$work/bundle"

# The baseline build gets an installation of its own (its state store and
# container directories are not this build's).
baseline_env=-
if [ -n "${BASELINE:-}" ]; then
    baseline_env="XDG_CONFIG_HOME=$work/baseline/config XDG_DATA_HOME=$work/baseline/data"
    env $baseline_env "$BASELINE" context create crun --runtime oci --oci-runtime crun >/dev/null
    env $baseline_env "$BASELINE" image pull "$image" >/dev/null
fi

# Every container start, bare runtime or Ferry, leaves its memory cgroup
# behind until reclaim frees what it charged (dentries, inodes, page cache),
# and thousands of those slow every later start. Start from a clean slate.
memcgs_before=$(awk '$1 == "memory" {print $3}' /proc/cgroups)
sync
echo 3 > /proc/sys/vm/drop_caches

log "start-to-exit"
rounds "$work/start" -- \
    "ferry run (crun)" - "$ferry --context crun run $work/true.yaml" \
    ${BASELINE:+"ferry run (crun), baseline build" "$baseline_env" "$BASELINE --context crun run $work/true.yaml"} \
    "ferry run (runc)" - "$ferry --context runc run $work/true.yaml" \
    "crun run (bundle)" - "crun run --bundle $work/bundle bench-crun" \
    "runc run (bundle)" - "runc run --bundle $work/bundle bench-runc" \
    "docker run --rm" - "docker run --rm $image true"

# The same without docker, each start after 50 ms of quiet (see the note in the table's text).
rounds "$work/start-idle" --prepare 'sleep 0.05' -- \
    "ferry run (crun)" - "$ferry --context crun run $work/true.yaml" \
    "ferry run (runc)" - "$ferry --context runc run $work/true.yaml" \
    "crun run (bundle)" - "crun run --bundle $work/bundle bench-crun" \
    "runc run (bundle)" - "runc run --bundle $work/bundle bench-runc"

log "pull of a 200 MB image"
if ! skopeo inspect --tls-verify=false "docker://$big" >/dev/null 2>&1; then
    mkdir -p "$work/big/rootfs" "$work/big/layout/blobs/sha256"
    head -c 200000000 /dev/urandom > "$work/big/rootfs/random.bin"
    tar -C "$work/big/rootfs" -cf "$work/big/layer.tar" .
    blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$work/big/layout/blobs/sha256/$d"; echo "$d"; }
    size=$(stat -c %s "$work/big/layer.tar")
    layer=$(blob "$work/big/layer.tar")
    printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/random.bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" > "$work/big/config.json"
    csize=$(stat -c %s "$work/big/config.json"); config=$(blob "$work/big/config.json")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
        "$config" "$csize" "$layer" "$size" > "$work/big/manifest.json"
    msize=$(stat -c %s "$work/big/manifest.json"); manifest=$(blob "$work/big/manifest.json")
    echo '{"imageLayoutVersion":"1.0.0"}' > "$work/big/layout/oci-layout"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' \
        "$manifest" "$msize" > "$work/big/layout/index.json"
    skopeo copy --quiet --dest-tls-verify=false "oci:$work/big/layout:1" "docker://$big"
    rm -rf "$work/big"
fi
pull_runs=${PULL_RUNS:-10}
hyperfine -N --warmup 1 --runs "$pull_runs" --export-markdown "$work/pull.md" \
    --prepare "rm -rf $work/pull $work/skopeo" \
    -n "ferry image pull (download + verify + unpack)" "env XDG_DATA_HOME=$work/pull $ferry image pull $big" \
    -n "skopeo copy (download + verify)" "skopeo copy --quiet --src-tls-verify=false docker://$big oci:$work/skopeo:1"

# Ratios of medians (means are swayed by the odd slow start on a busy disk).
ratios=$(python3 - "$work/start.json" "$work/start-idle.json" <<'EOF'
import json, sys
print("| comparison | back to back | each after 50 ms of quiet |")
print("|---|---|---|")
runs = [{x["command"]: x["median"] * 1000 for x in json.load(open(p))["results"]} for p in sys.argv[1:]]
def row(name, a, b):
    cells = [f"{r[a]:.1f} / {r[b]:.1f} ms = **{r[a] / r[b]:.2f}x**" if a in r and b in r else "not measured" for r in runs]
    print(f"| {name} | " + " | ".join(cells) + " |")
row("ferry run (crun) / crun run", "ferry run (crun)", "crun run (bundle)")
row("ferry run (runc) / runc run", "ferry run (runc)", "runc run (bundle)")
row("docker run --rm / ferry run (crun)", "docker run --rm", "ferry run (crun)")
if any("ferry run (crun), baseline build" in r for r in runs):
    row("baseline build / this build (crun)", "ferry run (crun), baseline build", "ferry run (crun)")
EOF
)

{
    echo "# OCI runtime benchmark"
    echo
    echo "Produced by \`benches/oci/run.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, kernel $(uname -r);"
    echo "$(crun --version | head -1), $(runc --version | head -1), $(docker --version), $(skopeo --version))."
    echo "Caches dropped before the run (memory cgroups then: ${memcgs_before:-?} alive or dying; see the script)."
    echo
    echo "## Trivial container, start to exit (\`true\` in the busybox test image)"
    echo
    echo "\`ferry run\` is attached: it writes the bundle, mounts the overlay rootfs, starts the"
    echo "per-container monitor, runs the container and waits for the recorded exit."
    echo "The bare runtimes run a prepared bundle (rootfs already extracted, no monitor, no state)."
    if [ -n "${BASELINE:-}" ]; then
        echo "The baseline build (${BASELINE_LABEL:-an older build}) is timed back to back in the same run,"
        echo "with an installation of its own."
    fi
    echo "Each command runs in $ROUNDS rounds of $(((runs + ROUNDS - 1) / ROUNDS)) back-to-back starts, the commands' order"
    echo "reversed every other round (the first command after another is measured on a machine still"
    echo "settling from it); the tables pool all rounds."
    echo
    echo "Medians:"
    echo
    echo "$ratios"
    echo
    echo "Why two settings: the runtime's move of the container into its cgroup (a write to"
    echo "\`cgroup.procs\`) waits for an RCU grace period (5-25 ms here) unless another such move"
    echo "happened within about a grace period before. A bare runtime run in a tight loop gets that"
    echo "from its previous iteration; a start by hand or from a scheduler after a pause pays it."
    echo "\`ferry run\` depends on neither: its pre-forked monitor makes such a move while the CLI"
    echo "prepares the bundle, so the runtime's own move finds the lock warm."
    echo
    echo "\`ferry run\` also spares the runtime its per-call copy of its own binary (the CVE-2019-5736"
    echo "defence, about 2 ms per \`crun run\` here): its monitor runs the runtime from a sealed"
    echo "in-memory copy made while the CLI prepares the bundle, which crun and runc accept as is."
    echo "For runc that copy (8.7 MB) takes longer than the CLI's preparation, so it gains little."
    echo
    echo "### Back to back"
    echo
    cat "$work/start.md"
    echo
    echo "### Each start after 50 ms of quiet"
    echo
    cat "$work/start-idle.md"
    echo
    echo "## Pull of a ~200 MB image (one incompressible layer) from the local registry"
    echo
    echo "\`ferry image pull\` also unpacks the layer (as \`docker pull\` does); \`skopeo copy\` only stores the blob."
    echo
    cat "$work/pull.md"
} > benches/results/oci.md
cat benches/results/oci.md
