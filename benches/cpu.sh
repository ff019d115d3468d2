#!/usr/bin/env bash
# The machine's CPU time per run of a command, run N times back to back:
# every CPU's busy time from /proc/stat (the command, its children, and the
# kernel threads and interrupts working for them), so it includes what a
# command leaves running in the background after it returns. On a machine
# with C cores, a back-to-back loop cannot be faster than (CPU per run) / C.
#
#   benches/cpu.sh 300 target/release/ferry run true.yaml
#   benches/cpu.sh 300 crun run --bundle BUNDLE ID
#
# Prints one line: busy CPU per run (user, system) and wall time per run.
# The machine should be otherwise idle.
set -euo pipefail
n=$1
shift
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3}' /proc/stat; }
read -r busy0 user0 < <(busy)
start=$(date +%s%N)
for ((i = 0; i < n; i++)); do "$@" >/dev/null; done
end=$(date +%s%N)
sleep 0.5 # what the last run left in the background
read -r busy1 user1 < <(busy)
python3 - "$n" "$(getconf CLK_TCK)" "$busy0" "$busy1" "$user0" "$user1" "$start" "$end" <<'PY'
import sys
n, hz, b0, b1, u0, u1, t0, t1 = (int(x) for x in sys.argv[1:])
ms = lambda ticks: ticks / hz * 1000 / n
print(f"busy CPU per run {ms(b1 - b0):.2f} ms (user {ms(u1 - u0):.2f}, system {ms((b1 - b0) - (u1 - u0)):.2f});"
      f" wall per run {(t1 - t0) / 1e6 / n:.2f} ms")
PY
