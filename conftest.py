"""Root pytest configuration, shared by tests/ and the solution notebooks that nbval collects.

Notebooks run with COURSE_PROFILE=smoke unless the caller chose a profile, so that
`pytest --nbval-lax solutions/` is a quick check by default and
`COURSE_PROFILE=full pytest --nbval-lax solutions/` the full-size run on a GPU.
The notebook kernels inherit this process's environment.
"""

import os

os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
