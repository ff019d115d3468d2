#!/usr/bin/env bash
# Local runtime overhead: `ferry run` of a trivial workload (attached: monitor,
# cgroup, log file, state store, exit code) against running the same program
# directly. Writes benches/results/local.md.
#
#   benches/local/run.sh            # needs hyperfine (apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p ferry-cli
ferry=${FERRY_BIN:-$(pwd)/target/release/ferry}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data
printf 'name: trivial\ncommand: ["true"]\n' > "$work/true.yaml"
printf 'name: limited\nresources: {memory: 64Mi, cpus: 1, pids: 64}\ncommand: ["true"]\n' > "$work/limited.yaml"

hyperfine -N --warmup 5 --runs 50 --export-markdown "$work/table.md" \
    -n 'true (direct exec)' 'true' \
    -n 'sh -c true' 'sh -c true' \
    -n 'ferry run (local)' "$ferry run $work/true.yaml" \
    -n 'ferry run (local, with limits)' "$ferry run $work/limited.yaml"

{
    echo "# Local runtime: start-to-exit of a trivial workload"
    echo
    echo "Command: \`benches/local/run.sh\` ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r))."
    echo "Each \`ferry run\` records the workload in SQLite, starts a monitor, creates the"
    echo "workload's cgroups, runs the program, records the exit and streams the log."
    echo
    cat "$work/table.md"
} > benches/results/local.md
cat benches/results/local.md
