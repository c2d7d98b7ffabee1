#!/usr/bin/env bash
# The course at full size on a GPU machine, in one go: the cells benchmark, then every chapter's
# solution notebook under the `full` profile (`course regenerate --profile full`, all chapters at
# once on the one GPU). Written for a machine that has CUDA, torch, numpy and matplotlib but no
# internet: the notebook tools come as wheels from .device/wheels (installed with --no-deps: the
# image has their other dependencies) and the data sets from
# .device/data (see "Full size on a GPU" in the README for how to fill both).
#
#   OUT=/some/folder bash benchmarks/gpu_full.sh
#
# Writes to $OUT: gpu.txt (nvidia-smi), cells_gpu.json/.txt (benchmarks/cells.py), cells_cuda_check.txt
# and paths_training_check.json/.txt (the paths against the readable loop), results.json
# and regenerate.txt (course regenerate), regenerated.tar.gz (the executed notebooks and logs).
# Time limits keep the whole run under 10 minutes, so that a lease's single call brings back
# whatever finished: each chapter gets CHAPTER_LIMIT seconds.
set -u
OUT=${OUT:?set OUT to the folder that receives the results}
CHAPTER_LIMIT=${CHAPTER_LIMIT:-420}
PROFILE=${PROFILE:-full}
CHAPTERS=${CHAPTERS:-}  # empty: every chapter
# BENCH=0 skips the cells benchmark and check (a rerun of some chapters)
# PEEPHOLE=1 also trains sentiment's full-peephole LSTM with and without CUDA graphs (about 2 and 4 min
# alone), beside the regenerate: one call brings back both, and the regenerate's times are then upper bounds
repo=$(pwd)
work=${WORK:-/tmp/course-gpu}
mkdir -p "$work" "$OUT"
started=$(date +%s)
say() { echo "[$(( $(date +%s) - started )) s] $*"; }

say "environment"
# Into a folder on PYTHONPATH rather than a venv: the GPU image's python3 may itself live in a venv,
# whose packages (torch) a venv made from it would not see.
PYTHON=${BASE_PYTHON:-python3}
"$PYTHON" -m pip install -q --no-index --no-deps --target "$work/site" "${WHEELS:-.device/wheels}"/*.whl 2>&1 | tail -3
export PATH="$work/site/bin:$PATH" PYTHONPATH="$repo:$work/site" COURSE_DATA_DIR="$work/data" PYTHONUNBUFFERED=1
# Two CPU threads per notebook: on the GPU the notebooks' CPU work is launching kernels, and nine
# notebooks each taking every core (the default on an idle machine) slowed all of them down.
export COURSE_THREADS=${COURSE_THREADS:-2}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
"$PYTHON" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))" | tee -a "$OUT/gpu.txt"

say "data"
mkdir -p "$COURSE_DATA_DIR/imdb"
for name in ptb tinyshakespeare timemachine; do cp -r ".device/data/$name" "$COURSE_DATA_DIR/"; done
tar -xzf .device/data/aclImdb_labeled.tar.gz -C "$COURSE_DATA_DIR/imdb"

if [ "${BENCH:-1}" = 1 ] && [ -f benchmarks/cells.py ]; then
  say "cells benchmark"
  timeout 90 "$PYTHON" benchmarks/cells.py --device cuda --json "$OUT/cells_gpu.json" > "$OUT/cells_gpu.txt" 2>&1
  tail -15 "$OUT/cells_gpu.txt"
fi

if [ "${BENCH:-1}" = 1 ] && [ -f benchmarks/cells_cuda_check.py ]; then
  # A correctness check, not a timing: it may share the GPU with the notebooks.
  (timeout 120 "$PYTHON" benchmarks/cells_cuda_check.py > "$OUT/cells_cuda_check.txt" 2>&1;
   echo "exit $?" >> "$OUT/cells_cuda_check.txt") &
  # The same at the real size in float32, in training: sentiment's full-peephole classifier, 60 steps
  # through the readable loop, the eager fast path (packed, masked) and the CUDA graphs, loss by loss.
  (timeout 300 "$PYTHON" benchmarks/paths_training_check.py --device cuda \
     --json "$OUT/paths_training_check.json" > "$OUT/paths_training_check.txt" 2>&1;
   echo "exit $?" >> "$OUT/paths_training_check.txt") &
fi
if [ "${PEEPHOLE:-0}" = 1 ]; then
  # sentiment's full-peephole LSTM missed 0.85 on an H200; on a CPU the same training reached 0.88-0.90
  # validation accuracy over four seeds, packed or masked as on a GPU
  # (benchmarks/results/peephole_pool1_cpu.json). The same training through the CUDA graphs and
  # through the eager fast path tells whether the graphs are the difference.
  for graphs in on off; do
    flag=$([ "$graphs" = off ] && echo --no-graphs)
    (timeout "$CHAPTER_LIMIT" "$PYTHON" benchmarks/peephole_init.py --pool 1 --epochs 4 --inits uniform $flag \
      --json "$OUT/peephole_graphs_$graphs.json" > "$OUT/peephole_graphs_$graphs.txt" 2>&1;
     echo "exit $?" >> "$OUT/peephole_graphs_$graphs.txt") &
  done
fi
say "course regenerate --profile $PROFILE"
timeout $(( CHAPTER_LIMIT + 30 )) "$PYTHON" -m course_lib.regenerate $CHAPTERS --profile "$PROFILE" --jobs 9 \
  --timeout "$CHAPTER_LIMIT" --output "$work/$PROFILE" --quiet > "$OUT/regenerate.txt" 2>&1
say "regenerate exited with $?"
cp "$work/$PROFILE/results.json" "$OUT/" 2>/dev/null
tar -czf "$OUT/regenerated.tar.gz" -C "$work" "$PROFILE"
wait
tail -5 "$OUT/cells_cuda_check.txt" 2>/dev/null
tail -6 "$OUT/paths_training_check.txt" 2>/dev/null
tail -qn 2 "$OUT"/peephole_graphs_*.txt 2>/dev/null
tail -70 "$OUT/regenerate.txt"
say "done"
