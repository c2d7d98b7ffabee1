"""Fixtures for the book's tests: the book is built once per session and shared.

Helpers and constants live in booktest.py (a module of its own, so that test files import it by a
name no other conftest.py shares).
"""

from __future__ import annotations

import pytest
import yaml
from booktest import BuiltBook, build_env, copy_book

from course_lib import book


@pytest.fixture(scope="session")
def student_book(tmp_path_factory) -> BuiltBook:
    """The repository's book plus the test chapter, student edition, smoke profile, local MathJax."""
    root = copy_book(tmp_path_factory.mktemp("book"))
    counter = root.parent / f"{root.name}-counter.txt"
    result = book.build(root, "student", profile="smoke", mathjax="local", capture=True, timeout=900,
                        env=build_env(counter))
    assert result.ok, f"the student edition did not build cleanly with -W:\n{result.output[-6000:]}"
    return BuiltBook(root, result.html, yaml.safe_load((root / "_toc.yml").read_text()), counter,
                     result.seconds)
