#!/usr/bin/env bash
# Local runtime overhead: `ferry run` of a trivial workload (attached: monitor,
# cgroup, log file, state store, exit code) against running the same program
# directly; `ferry run -d` + `ferry wait`; and `ferry ps` with 10,000
# workloads in the store. Writes benches/results/local.md.
#
#   benches/local/run.sh            # needs hyperfine (apt-get install hyperfine)
#   BASELINE=/path/to/older/ferry BASELINE_LABEL="commit abc123" benches/local/run.sh
#                                   # also times an older build, side by side
#                                   # (this machine's speed varies from day to day)
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/lib.sh
cargo build --release -q -p ferry-cli
cargo build --release -q -p ferry-core --example populate_store
ferry=${FERRY_BIN:-$(pwd)/target/release/ferry}
populate=$(pwd)/target/release/examples/populate_store
runs=${RUNS:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data
printf 'name: trivial\ncommand: ["true"]\n' > "$work/true.yaml"
printf 'name: limited\nresources: {memory: 64Mi, cpus: 1, pids: 64}\ncommand: ["true"]\n' > "$work/limited.yaml"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# The baseline build gets an installation of its own (its state store and
# workload directories are not this build's).
baseline_env=-
[ -n "${BASELINE:-}" ] && baseline_env="XDG_CONFIG_HOME=$work/baseline/config XDG_DATA_HOME=$work/baseline/data"
rounds "$work/run" -- \
    'true (direct exec)' - 'true' \
    'ferry --version (process start only)' - "$ferry --version" \
    'ferry run (local)' - "$ferry run $work/true.yaml" \
    'ferry run (local, with limits)' - "$ferry run $work/limited.yaml" \
    ${BASELINE:+"ferry run (local), baseline build" "$baseline_env" "$BASELINE run $work/true.yaml"}

# `run -d` needs a fresh name each time (names are unique among live
# workloads), hence a shell; hyperfine subtracts the shell's own start-up.
hyperfine --warmup 3 --runs "$runs" --export-markdown "$work/detached.md" \
    -n 'ferry run (attached)' "$ferry run $work/true.yaml" \
    -n 'ferry run -d + ferry wait' \
    "id=\$($ferry run -d --name t\$(date +%s%N) $work/true.yaml) && $ferry wait \$id"

export XDG_DATA_HOME=$work/ps-data
mkdir -p "$XDG_DATA_HOME/ferry/local"
"$populate" "$XDG_DATA_HOME/ferry/state.db" "$XDG_DATA_HOME/ferry/local" 10000 >/dev/null
"$ferry" run -d "$work/true.yaml" >/dev/null # and one live workload among them
hyperfine -N --warmup 3 --runs "$runs" --export-markdown "$work/ps.md" \
    -n 'ferry ps (10,000 finished + 1 live)' "$ferry ps" \
    ${BASELINE:+-n "ferry ps (10,000 finished + 1 live), baseline build" "$BASELINE ps"} \
    -n 'ferry ps -a (prints 10,001 rows)' "$ferry ps -a" \
    -n 'ferry ps -a -o json' "$ferry ps -a -o json"

overhead=$(python3 - "$work/run.json" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base, run = r["true (direct exec)"]["median"], r["ferry run (local)"]["median"]
print(f"{(run - base) * 1000:.1f}")
EOF
)

{
    echo "# Local runtime benchmark"
    echo
    echo "Made by \`benches/local/run.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, kernel $(uname -r), cgroup"
    echo "$(stat -fc %T /sys/fs/cgroup | sed 's/tmpfs/v1/;s/cgroup2fs/v2/')). Load average before: $load_before."
    echo
    echo "## Start to exit of a trivial workload"
    echo
    echo "Each \`ferry run\` parses the file, records the workload in SQLite, starts its"
    echo "monitor (forked as the command's first act, see \`ferry_local::launcher\`), creates the"
    echo "workload's cgroups, runs the program, records the exit in \`state.json\` and SQLite, and"
    echo "streams the log.${BASELINE:+ The baseline build (${BASELINE_LABEL:-an older build}) is timed in the same run, with an installation of its own.}"
    echo "Each command runs in $ROUNDS rounds of back-to-back starts, the commands' order reversed every"
    echo "other round; the table pools all rounds."
    echo
    cat "$work/run.md"
    echo
    echo "Median overhead of \`ferry run\` over the bare process: **$overhead ms** (target: 10 ms)."
    echo
    echo "## Detached start, then waiting for the recorded exit"
    echo
    cat "$work/detached.md"
    echo
    echo "## \`ferry ps\` with 10,000 workloads in the store"
    echo
    cat "$work/ps.md"
} > benches/results/local.md
cat benches/results/local.md
