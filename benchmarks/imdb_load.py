"""How long IMDB takes to load: the first time (tokenising 50,000 reviews) and from the cache.

    COURSE_DATA_DIR=/path/to/data python benchmarks/imdb_load.py

The first load writes its cache into a temporary folder, so the data directory's own cache is
neither used nor touched. Targets on 2 CPU cores: first load <= 60 s, cached load <= 5 s.
"""

import tempfile
import time

from course_lib.data.imdb import SPLITS, load_imdb_datasets, load_imdb_tokens


def timed(load) -> float:
    start = time.perf_counter()
    load()
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as cache_dir:
        def load_both():
            return [load_imdb_tokens(split, cache_dir=cache_dir, progress=False) for split in SPLITS]

        first = timed(load_both)  # tokenises both splits, writes the cache, then reads it once
        cached = timed(load_both)
    datasets = timed(lambda: load_imdb_datasets(progress=False))
    print(f"first load (tokenise 50,000 reviews, write cache): {first:6.1f} s   (target <= 60 s)")
    print(f"cached load (both splits):                         {cached:6.1f} s   (target <= 5 s)")
    print(f"load_imdb_datasets() (vocab 20k, max_len 200), data dir cache: {datasets:.1f} s"
          "  (includes tokenising if the data directory has no cache yet)")


if __name__ == "__main__":
    main()
