"""Release student notebooks and autograde submissions with stock nbgrader, in throw-away course folders."""
