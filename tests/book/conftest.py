"""Fixtures for the book's tests: the book is built once per session and shared.

Helpers and constants live in booktest.py (a module of its own, so that test files import it by a
name no other conftest.py shares).
"""

from __future__ import annotations

import pytest
from booktest import BuiltBook, build_book, copy_book


@pytest.fixture(scope="session")
def student_book(tmp_path_factory) -> BuiltBook:
    """The repository's book plus the test chapter, student edition, smoke profile, local MathJax."""
    return build_book(copy_book(tmp_path_factory.mktemp("book")), "student")
