#!/usr/bin/env bash
# Two Ferry builds head to head, each in an installation of its own, in
# rounds whose order alternates (benches/lib.sh), with the bare runtime in
# the same rounds for scale. For checking one change; the full tables are
# benches/oci/run.sh and benches/local/run.sh.
#
#   benches/compare.sh OLD_FERRY NEW_FERRY [oci|local]     # default: oci (crun)
#   ROUNDS=10 RUNS=200 benches/compare.sh …                # the defaults
#
# The oci mode needs root, crun and the local registry (scripts/services/20-registry.sh,
# 30-oci.sh). Prints a markdown table; writes nothing in the repository.
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2") mode=${3:-oci}
cd "$(dirname "$0")/.."
source benches/lib.sh
: "${ROUNDS:=10}"
runs=${RUNS:-200}
: "${FERRY_REGISTRY:=127.0.0.1:5000}"
image="$FERRY_REGISTRY/ferry-test/busybox:1"
work=$(mktemp -d /var/tmp/ferry-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT

args=()
for side in old new; do
    bin=$old
    [ "$side" = new ] && bin=$new
    home="XDG_CONFIG_HOME=$work/$side/config XDG_DATA_HOME=$work/$side/data"
    if [ "$mode" = oci ]; then
        env $home "$bin" context create crun --runtime oci --oci-runtime crun --use >/dev/null
        env $home "$bin" image pull "$image" >/dev/null
    fi
    args+=("$side ($bin)" "$home" "$bin run $work/true.yaml")
done
if [ "$mode" = oci ]; then
    printf 'image: %s\nname: bench\ncommand: ["true"]\n' "$image" > "$work/true.yaml"
    # The bare runtime on the same image, unpacked by the new build.
    layers=$(ls -d "$work"/new/data/ferry/oci/layers/*/ | head -1)
    mkdir -p "$work/bundle/rootfs"
    cp -a "$layers". "$work/bundle/rootfs/"
    bare_bundle crun "$work/bundle"
    args+=("crun run (bundle)" - "crun run --bundle $work/bundle ferry-compare")
else
    printf 'name: bench\ncommand: ["true"]\n' > "$work/true.yaml"
    args+=("true (direct exec)" - "true")
fi
rounds "$work/start" -- "${args[@]}"
cat "$work/start.md"
