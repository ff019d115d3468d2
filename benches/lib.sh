# Shared by the benches (sourced): timing commands side by side.

# rounds OUT [hyperfine options] -- NAME ENV COMMAND [NAME ENV COMMAND ...]
# Times each command in $ROUNDS rounds of $runs/$ROUNDS back-to-back runs,
# one hyperfine run per command and round (under ENV, e.g. another Ferry
# installation's XDG_*; "-" for none), the commands' order reversed every
# other round: the first command after a change of command is measured on a
# machine still settling from the previous one, so a fixed order favours
# whichever goes later. Writes OUT.md (all rounds' runs per command) and
# OUT.json (medians).
ROUNDS=${ROUNDS:-4}
rounds() {
    local out=$1 r k i
    shift
    local -a opts=() names=() envs=() cmds=()
    while [ "$1" != "--" ]; do opts+=("$1"); shift; done
    shift
    while [ $# -gt 0 ]; do names+=("$1"); envs+=("$2"); cmds+=("$3"); shift 3; done
    for ((r = 0; r < ROUNDS; r++)); do
        for ((k = 0; k < ${#names[@]}; k++)); do
            i=$k
            if ((r % 2)); then i=$((${#names[@]} - 1 - k)); fi
            local -a env=()
            [ "${envs[i]}" = - ] || read -r -a env <<< "${envs[i]}"
            env "${env[@]}" hyperfine -N --warmup 3 --runs $(((${runs:?} + ROUNDS - 1) / ROUNDS)) "${opts[@]}" \
                --export-json "$out.round$r.$i.json" -n "${names[i]}" "${cmds[i]}" >/dev/null
        done
    done
    python3 - "$out" "${names[@]}" <<'PY'
import glob, json, statistics, sys
out, names = sys.argv[1], sys.argv[2:]
times = {n: [] for n in names}
for path in sorted(glob.glob(out + ".round*.json")):
    for r in json.load(open(path))["results"]:
        times[r["command"]] += r["times"]
rows = [{"command": n, "median": statistics.median(t), "mean": statistics.mean(t), "stddev": statistics.pstdev(t),
         "min": min(t), "max": max(t), "runs": len(t)} for n, t in times.items()]
json.dump({"results": rows}, open(out + ".json", "w"))
best = min(r["median"] for r in rows)
with open(out + ".md", "w") as md:
    md.write("| Command | Median [ms] | Mean [ms] | Min [ms] | Max [ms] | Runs | Relative (medians) |\n|:---|---:|---:|---:|---:|---:|---:|\n")
    for r in rows:
        ms = lambda k: f"{r[k] * 1000:.1f}"
        md.write(f"| `{r['command']}` | {ms('median')} | {ms('mean')} ± {ms('stddev')} | {ms('min')} | {ms('max')} | {r['runs']} | {r['median'] / best:.2f} |\n")
PY
}

# bare_bundle RUNTIME DIR: the runtime's default spec in DIR (whose rootfs/ is
# already unpacked), running `true` without a terminal on a writable rootfs:
# the bare runtime's side of a start-to-exit comparison.
bare_bundle() {
    (cd "$2" && "$1" spec && python3 - <<'PY'
import json
s = json.load(open("config.json"))
s["process"]["terminal"] = False
s["process"]["args"] = ["true"]
s["root"]["readonly"] = False
json.dump(s, open("config.json", "w"))
PY
)
}
