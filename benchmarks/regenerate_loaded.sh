#!/usr/bin/env bash
# A chapter's `cpu` notebook while other programs share the cores: HOGS busy loops (one core each)
# run beside `course regenerate CHAPTER --profile cpu`, which chooses torch's threads from the load
# it sees (no COURSE_THREADS), as a student's laptop would. Prints the load, the threads chosen and
# the wall time; the hogs are ended on exit. Compare with the same chapter on a quiet machine
# (README, "Profiles").
#
#   bash benchmarks/regenerate_loaded.sh sentiment [HOGS=1] [OUTPUT=/tmp/regenerate-loaded]
set -eu
chapter=${1:?name a chapter, e.g. sentiment}
hogs=${HOGS:-1}
output=${OUTPUT:-/tmp/regenerate-loaded}
python=${PYTHON:-python}
unset COURSE_THREADS
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for _ in $(seq "$hogs"); do
  "$python" -c 'while True: pass' &
  pids+=($!)
done
sleep 75  # long enough for the one-minute load average to count the hogs
echo "hogs: $hogs; before: $(uptime)"
started=$(date +%s)
status=0
"$python" -m course_lib.regenerate "$chapter" --profile cpu --output "$output" --quiet || status=$?
echo "after $(( $(date +%s) - started )) s: $(uptime)"
exit "$status"
