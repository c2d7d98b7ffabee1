#!/usr/bin/env bash
# Fill .device/ (git-ignored) with what benchmarks/gpu_full.sh needs on a GPU machine that has
# CUDA, torch, numpy and matplotlib but no internet: the notebook tools as wheels for that
# machine's Python, and the data sets.
#
#   bash benchmarks/prepare_device.sh [PYTHON_VERSION]     # default 3.12, the GPU image's Python
#
# Data come from COURSE_SHARED_DATA (a folder laid out like ../shared/data: imdb/aclImdb_labeled.tar.gz,
# ptb/, tinyshakespeare/, timemachine/), by default ../shared/data beside the repository.
set -euo pipefail
version=${1:-3.12}
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${COURSE_SHARED_DATA:-$(cd "$repo/.." && pwd)/shared/data}
cd "$repo"
grep -qxF "/.device/" .git/info/exclude 2>/dev/null || echo "/.device/" >> .git/info/exclude
mkdir -p .device/wheels .device/data
python -m pip download -q --only-binary=:all: --python-version "$version" --implementation cp \
  --abi "cp${version/./}" --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 -d .device/wheels \
  nbclient nbformat ipykernel ipywidgets matplotlib-inline jupyter-client
# The GPU image already has these; leaving them out keeps the carried tree under its size limit.
rm -f .device/wheels/{packaging,pygments,attrs,psutil,python_dateutil,typing_extensions}-*.whl
cp "$shared/imdb/aclImdb_labeled.tar.gz" .device/data/
for name in ptb tinyshakespeare timemachine; do
  mkdir -p ".device/data/$name" && cp "$shared/$name"/* ".device/data/$name/"
done
du -sh .device
