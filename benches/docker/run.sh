#!/usr/bin/env bash
# Ferry on Docker side by side with the Docker CLI (hyperfine), on the same
# dockerd and image:
#   1. `ferry run FILE` (attached, a `true` job) vs `docker run --rm --init IMAGE true`
#      (target: Ferry adds no more than max(5 %, 20 ms));
#   2. `ferry stats` of N running containers (read from their cgroups) vs
#      `docker stats --no-stream` of the same containers (the Engine stats API).
# Writes benches/results/docker.md. Needs dockerd and the test image:
#   source scripts/lib.sh; source scripts/services/40-docker.sh   (as root)
#   benches/docker/run.sh            # RUNS=30 N=50 by default
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-30}
N=${N:-50}
IMAGE=${FERRY_DOCKER_TEST_IMAGE:-ferry-test/busybox:1}
export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
DOCKER=${DOCKER_BIN:-$(command -v /usr/bin/docker || command -v docker)}
FERRY=${FERRY:-target/release/ferry}
OUT=benches/results/docker.md

command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
"$DOCKER" info >/dev/null 2>&1 || { echo "dockerd does not answer at $DOCKER_HOST (see scripts/services/40-docker.sh)" >&2; exit 1; }
"$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 || { echo "image $IMAGE missing (see scripts/services/40-docker.sh)" >&2; exit 1; }
[ -x "$FERRY" ] || cargo build --release -p ferry-cli
FERRY=$(realpath "$FERRY")

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
work=$(mktemp -d)
export XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data
cleanup() {
    "$DOCKER" ps -aq --filter label=io.ferry.context=bench | xargs -r "$DOCKER" rm -f >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"$FERRY" context create bench --runtime docker --docker-host "$DOCKER_HOST" --use >/dev/null
printf 'name: bench-true\nimage: %s\ncommand: ["true"]\n' "$IMAGE" > "$work/true.yaml"
printf 'name: bench-sleep\nkind: service\nimage: %s\ncommand: ["sleep", "3600"]\n' "$IMAGE" > "$work/sleep.yaml"

echo "== 1/2: ferry run vs docker run --rm ($RUNS runs each)"
hyperfine --warmup 3 --runs "$RUNS" --export-json "$work/run.json" --export-markdown "$work/run.md" \
    -n "ferry run (docker runtime)" "$FERRY run $work/true.yaml" \
    -n "docker run --rm --init" "$DOCKER run --rm --init $IMAGE true"
"$DOCKER" ps -aq --filter label=io.ferry.context=bench | xargs -r "$DOCKER" rm -f >/dev/null

echo "== 2/2: stats of $N running containers"
for i in $(seq 1 "$N"); do "$FERRY" run -d --name "sleep-$i" "$work/sleep.yaml" >> "$work/ids"; done
mapfile -t ids < "$work/ids"
mapfile -t cids < <("$DOCKER" ps -q --no-trunc --filter label=io.ferry.context=bench)
[ "${#cids[@]}" -eq "$N" ] || { echo "expected $N running containers, found ${#cids[@]}" >&2; exit 1; }
hyperfine --warmup 1 --runs "$(( RUNS < 10 ? RUNS : 10 ))" --export-json "$work/stats.json" --export-markdown "$work/stats.md" \
    -n "ferry stats ($N workloads, cgroups, 250 ms CPU sample)" "$FERRY stats -o json ${ids[*]}" \
    -n "ferry stats ($N workloads, cgroups, 1 ms CPU sample)" "$FERRY stats -o json --interval-ms 1 ${ids[*]}" \
    -n "docker stats --no-stream ($N containers, Engine API)" "$DOCKER stats --no-stream ${cids[*]}"

verdict=$(python3 - "$work/run.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
f = r["ferry run (docker runtime)"]["mean"]; d = r["docker run --rm --init"]["mean"]
extra = f - d
allowed = max(0.05 * d, 0.020)
print(f"Ferry adds {extra*1000:+.1f} ms ({extra/d*100:+.1f} %) per run; allowed: {allowed*1000:.1f} ms "
      f"(max of 5 % and 20 ms) → {'within target' if extra <= allowed else 'OVER target'}.")
PY
)

{
    echo "# Docker runtime benchmark"
    echo
    echo "Produced by \`benches/docker/run.sh\` (RUNS=$RUNS, N=$N) on $(date -u +%Y-%m-%d): $(nproc) CPUs,"
    echo "Docker Engine $("$DOCKER" version --format '{{.Server.Version}}') (API $("$DOCKER" version --format '{{.Server.APIVersion}}')),"
    echo "storage driver $("$DOCKER" info --format '{{.Driver}}'), cgroup v$("$DOCKER" info --format '{{.CgroupVersion}}'), image \`$IMAGE\`."
    echo "Load average before / after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: the"
    echo "spread of container start times follows the load; compare the two rows of one run, not runs)."
    echo
    echo "## \`ferry run\` vs \`docker run --rm\`"
    echo
    echo "A \`true\` job, attached (Ferry streams the logs and exits with the container's code)."
    echo "Ferry keeps the finished container (for \`ferry logs\`/\`inspect\`); \`docker run --rm\` removes it."
    echo "Both run Docker's init (tini) as PID 1."
    echo
    cat "$work/run.md"
    echo
    echo "$verdict"
    echo
    echo "## \`ferry stats\` vs \`docker stats --no-stream\` ($N running containers)"
    echo
    echo "Ferry reads each container's cgroup files (the Engine is asked only for the container's pid)"
    echo "and samples CPU twice, \`--interval-ms\` apart; \`docker stats --no-stream\` waits for the"
    echo "Engine's stats stream of every container to produce two samples."
    echo
    cat "$work/stats.md"
} > "$OUT"
echo "wrote $OUT"
