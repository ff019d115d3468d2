#!/usr/bin/env bash
# 200 trivial jobs through Ferry (`ferry run -d`, one process per job, as a
# user would type it) side by side with plain `sbatch` in a loop, on the
# cluster that scripts/services/50-slurm.sh starts. Measures the submission
# rate of each, the time until all 200 are recorded as finished, and how
# many squeue/sacct/scontrol calls Ferry made (FERRY_SLURM_TRACE).
#
#   benches/slurm/run.sh            # N=200; writes benches/results/slurm.md
#   N=50 benches/slurm/run.sh
#   FERRY_BIN=target/debug/ferry N=20 benches/slurm/run.sh   # a quick check of the script
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-200}
POLL=${POLL:-0.5}
out=benches/results/slurm.md

scontrol ping | grep -q UP || { echo "no Slurm controller: run scripts/services/50-slurm.sh" >&2; exit 1; }
ferry=${FERRY_BIN:-$(pwd)/target/release/ferry}
[ -x "$ferry" ] || cargo build --release -p ferry-cli

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data
"$ferry" context create bench --runtime slurm --use >/dev/null
printf 'name: trivial\ncommand: ["true"]\n' > "$work/trivial.yaml"
tag=bench$$

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v n="$N" -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", n / (b - a) }'; }

# --- plain sbatch ---------------------------------------------------------------
t0=$(now)
for i in $(seq 1 "$N"); do
    sbatch --parsable -J "$tag-plain" -o /dev/null -e /dev/null --wrap true >/dev/null
done
t1=$(now)
plain_polls=0
while :; do
    plain_polls=$((plain_polls + 1))
    left=$(squeue -h -t all --me -n "$tag-plain" -o '%T' | grep -cvE '^(COMPLETED|FAILED|CANCELLED|TIMEOUT)$' || true)
    [ "$left" -eq 0 ] && break
    sleep "$POLL"
done
t2=$(now)

# --- Ferry ----------------------------------------------------------------------
export FERRY_SLURM_TRACE=$work/trace-submit
t3=$(now)
for i in $(seq 1 "$N"); do
    "$ferry" run -d --name "$tag-$i" "$work/trivial.yaml" >/dev/null
done
t4=$(now)
export FERRY_SLURM_TRACE=$work/trace-wait
ferry_polls=0
while :; do
    ferry_polls=$((ferry_polls + 1))
    left=$("$ferry" ps -a -o json | grep -c '"state": "\(pending\|running\|paused\)"' || true)
    [ "$left" -eq 0 ] && break
    sleep "$POLL"
done
t5=$(now)
finished=$("$ferry" ps -a -o json | grep -c '"state": "succeeded"' || true)
# One more `ferry ps` with all N jobs finished: what a single refresh costs.
export FERRY_SLURM_TRACE=$work/trace-one
"$ferry" ps -a -q >/dev/null
unset FERRY_SLURM_TRACE

count() { grep -cx "$2" "$1" 2>/dev/null || true; }
sub_sbatch=$(count "$work/trace-submit" sbatch); sub_squeue=$(count "$work/trace-submit" squeue)
wait_squeue=$(count "$work/trace-wait" squeue); wait_scontrol=$(count "$work/trace-wait" scontrol)
wait_sacct=$(count "$work/trace-wait" sacct)
one_squeue=$(count "$work/trace-one" squeue); one_scontrol=$(count "$work/trace-one" scontrol)
one_sacct=$(count "$work/trace-one" sacct)

cat > "$out" <<MD
# Slurm runtime: $N trivial jobs, Ferry vs plain sbatch

Command: \`N=$N benches/slurm/run.sh\` ($(basename "$(dirname "$ferry")") build, single-node cluster from
scripts/services/50-slurm.sh, $(nproc) cores, $(date -u +%Y-%m-%d)). Both sides
poll every ${POLL}s until every job is finished; Ferry's side is a \`ferry ps -a\`
process per poll, plain sbatch's side a \`squeue\` per poll.

| | plain \`sbatch\` loop | Ferry (\`ferry run -d\` loop) |
|---|---|---|
| submit $N jobs | $(secs "$t0" "$t1") s ($(rate "$t0" "$t1") jobs/s) | $(secs "$t3" "$t4") s ($(rate "$t3" "$t4") jobs/s) |
| then until all recorded finished | $(secs "$t1" "$t2") s ($plain_polls squeue polls) | $(secs "$t4" "$t5") s ($ferry_polls \`ferry ps\` polls, $finished succeeded) |

Slurm commands Ferry ran (counted with \`FERRY_SLURM_TRACE\`):

| phase | sbatch | squeue | scontrol | sacct |
|---|---|---|---|---|
| submission ($N \`ferry run -d\` processes) | $sub_sbatch | $sub_squeue | 0 | 0 |
| waiting ($ferry_polls \`ferry ps\` polls over $N jobs) | 0 | $wait_squeue | $wait_scontrol | $wait_sacct |
| one \`ferry ps -a\` over $N finished jobs | 0 | $one_squeue | $one_scontrol | $one_sacct |

Status costs one \`squeue\` per refresh for all jobs (plus one \`scontrol -o show job\`
batch when finished jobs need their exit codes; \`sacct\` is tried once per process
and this cluster has no accounting storage), never one call per job. During
submission each \`ferry run -d\` is its own process, which submits with one
\`sbatch\` and records the job as pending from sbatch's answer (no \`squeue\`).
The waiting phase also counts the final \`ferry ps\` that counts the succeeded jobs.
MD
cat "$out"
