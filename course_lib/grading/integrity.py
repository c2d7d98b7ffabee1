"""Keeping graded tests honest: restore what a submission may have patched, and notice the attempt.

A test cell runs in the same kernel as the student's code, so a submission could replace
``torch.allclose`` with ``lambda *a, **k: True`` or redefine ``check_close`` to pass. Two defences:

* :func:`snapshot` (at kernel start, before any student code) keeps the original objects, and
  :func:`restore` (run by the grader right before every graded test cell) puts them back, both in
  their modules and in the notebook's namespace;
* :func:`find_tampering` reads the student's cells and names every assignment to an attribute of
  a guarded module (``torch.allclose = ...``, ``setattr(np.testing, ...)``) so the grade report can
  flag the submission for a person to look at.

Neither is a sandbox against a determined attacker; together they stop the easy ways to pass a
test without doing the work.
"""

from __future__ import annotations

import ast
import importlib

# module -> attributes graded tests rely on
GUARDED = {
    "builtins": ("abs", "all", "any", "isinstance", "len", "max", "min", "print", "range", "round",
                 "sum", "type", "AssertionError", "Exception", "ValueError", "TypeError"),
    "math": ("isclose", "isfinite", "exp", "log", "sqrt"),
    "numpy": ("allclose", "isclose", "array_equal", "abs", "max", "asarray", "all", "isfinite"),
    "numpy.testing": ("assert_allclose", "assert_array_equal", "assert_array_almost_equal", "assert_equal"),
    "torch": ("allclose", "isclose", "equal", "abs", "max", "all", "isfinite", "tensor", "manual_seed",
              "randn", "zeros"),
    "torch.testing": ("assert_close",),
    "torch.autograd": ("gradcheck", "grad"),
    "course_lib.grading.checks": ("CheckFailed", "check_close", "check_equal", "check_from_scratch",
                                  "check_shape", "relative_error"),
}

_originals: dict[tuple[str, str], object] = {}


def snapshot() -> None:
    """Remember the original guarded objects (call once, before any student code runs)."""
    for module_name, attributes in GUARDED.items():
        module = importlib.import_module(module_name)
        for attribute in attributes:
            if hasattr(module, attribute):
                _originals[(module_name, attribute)] = getattr(module, attribute)


def restore(namespace: dict) -> None:
    """Put every guarded object back in its module, and rebind the notebook names that refer to one."""
    if not _originals:
        snapshot()
    by_name = {}
    for (module_name, attribute), original in _originals.items():
        setattr(importlib.import_module(module_name), attribute, original)
        if module_name == "course_lib.grading.checks":
            by_name[attribute] = original
    for name, original in by_name.items():
        if name in namespace:
            namespace[name] = original


GUARDED_ROOTS = {"torch", "np", "numpy", "math", "builtins", "checks", "course_lib", "nn", "F"}


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def find_tampering(source: str) -> list[str]:
    """The lines of ``source`` that assign to attributes of guarded modules or rebind check helpers."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    findings = []
    guarded_names = set(GUARDED["course_lib.grading.checks"])
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and _root_name(target) in GUARDED_ROOTS:
                findings.append(f"line {node.lineno}: assigns {ast.unparse(target)}")
            elif isinstance(target, ast.Name) and target.id in guarded_names:
                findings.append(f"line {node.lineno}: redefines {target.id}")
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in guarded_names:
            findings.append(f"line {node.lineno}: redefines {node.name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" \
                and node.args and _root_name(node.args[0]) in GUARDED_ROOTS:
            findings.append(f"line {node.lineno}: setattr on {ast.unparse(node.args[0])}")
    return findings
