#!/usr/bin/env bash
# A chapter's `cpu` notebook while other programs share the cores: HOGS busy loops (one core each)
# run beside `course regenerate CHAPTER --profile cpu`, which chooses torch's threads from the load
# it sees (no COURSE_THREADS), as a student's laptop would. Prints the load, the threads chosen and
# the wall time; the hogs are ended on exit. Compare with the same chapter on a quiet machine
# (README, "Profiles"). THREADS=N forces torch's threads instead (COURSE_THREADS): with a hog, the
# oversubscribed case that the automatic choice avoids; with HOGS=0, the quiet baseline.
#
#   HOGS=1 [THREADS=2] [OUTPUT=/tmp/regenerate-loaded] bash benchmarks/regenerate_loaded.sh sentiment
set -eu
chapter=${1:?name a chapter, e.g. sentiment}
hogs=${HOGS:-1}
output=${OUTPUT:-/tmp/regenerate-loaded}
python=${PYTHON:-python}
if [ -n "${THREADS:-}" ]; then export COURSE_THREADS=$THREADS; else unset COURSE_THREADS; fi
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for _ in $(seq "$hogs"); do
  "$python" -c 'while True: pass' &
  pids+=($!)
done
sleep 75  # long enough for the one-minute load average to count the hogs
echo "hogs: $hogs; threads: ${THREADS:-chosen from the load}; before: $(uptime)"
started=$(date +%s)
status=0
"$python" -m course_lib.regenerate "$chapter" --profile cpu --output "$output" --quiet || status=$?
echo "after $(( $(date +%s) - started )) s: $(uptime)"
exit "$status"
