"""The checks that graded test cells call: friendly failures that say what was expected and what came.

A failing check raises :class:`CheckFailed` (an ``AssertionError``, so nbgrader scores the cell 0)
whose message names the quantity, the expected and the received values, and the relative error,
in the spirit of CS231n's gradient checks::

    check_close("dL/dW_hh", got=dW_hh, expected=reference, rtol=1e-8)

    CheckFailed: dL/dW_hh is wrong: relative error 3.2e-01 (allowed 1e-08).
      largest difference at index (2, 0): got 0.1234, expected 0.4567
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterable

import numpy as np
import torch


class CheckFailed(AssertionError):
    """A graded check failed; the message explains what and how."""


def _as_array(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def relative_error(got, expected) -> float:
    """max |got - expected| / max(|got| + |expected|), the scale-free error CS231n prints."""
    got, expected = _as_array(got), _as_array(expected)
    scale = np.maximum(np.abs(got) + np.abs(expected), 1e-300)
    return float(np.max(np.abs(got - expected) / scale)) if got.size else 0.0


class RelativeError(float):
    """A relative error that displays as words, not as a bare number.

    nbgrader reads a test cell whose last line evaluates to a number as that many points (partial
    credit); ``check_close(...)`` as a cell's last line would then score its relative error. Shown
    as "relative error 3.1e-10", it is not a number to nbgrader, and it is still a float in code.
    """

    def __repr__(self) -> str:
        return f"relative error {float(self):.1e}"

    __str__ = __repr__


def check_shape(name: str, got, expected_shape: Iterable[int]) -> None:
    """``got`` must be a tensor/array of exactly ``expected_shape``."""
    expected_shape = tuple(expected_shape)
    if not hasattr(got, "shape"):
        raise CheckFailed(f"{name} should be a tensor of shape {expected_shape}; got a {type(got).__name__}.")
    if tuple(got.shape) != expected_shape:
        raise CheckFailed(f"{name} has shape {tuple(got.shape)}; expected {expected_shape}.")


def check_close(name: str, got, expected, *, rtol: float = 1e-6, atol: float = 0.0) -> float:
    """``got`` must equal ``expected`` up to a relative error ``rtol`` (or an absolute ``atol``).

    Returns the relative error (a :class:`RelativeError`), so a notebook can print it next to the
    tolerance.
    """
    if got is None:
        raise CheckFailed(f"{name} is None: did the function `return` its result?")
    got_array, expected_array = _as_array(got), _as_array(expected)
    if got_array.shape != expected_array.shape:
        raise CheckFailed(f"{name} has shape {got_array.shape}; expected {expected_array.shape}.")
    if not np.all(np.isfinite(got_array)):
        raise CheckFailed(f"{name} contains NaN or infinity.")
    error = relative_error(got_array, expected_array)
    difference = np.abs(got_array - expected_array)
    if error > rtol and difference.max(initial=0.0) > atol:
        index = np.unravel_index(int(np.argmax(difference)), difference.shape) if difference.ndim else ()
        raise CheckFailed(
            f"{name} is wrong: relative error {error:.1e} (allowed {rtol:.0e}).\n"
            f"  largest difference at index {tuple(int(i) for i in index)}: "
            f"got {got_array[index]:.6g}, expected {expected_array[index]:.6g}"
        )
    return RelativeError(error)


def check_equal(name: str, got, expected) -> None:
    """Exact equality for counts, labels and strings."""
    if got != expected:
        raise CheckFailed(f"{name}: expected {expected!r}, got {got!r}.")


# -- "from scratch" exercises must not call what they re-implement ------------------------------------

# What a from-scratch cell must not call: torch.nn's recurrent modules, the fused ATen kernels behind
# them, and the course's own solutions.
FORBIDDEN_FOR_CELLS = (
    "torch.nn.RNNCell", "torch.nn.LSTMCell", "torch.nn.GRUCell", "torch.nn.RNN", "torch.nn.LSTM",
    "torch.nn.GRU", "torch.nn.RNNBase", "torch.lstm", "torch.gru", "torch.rnn_tanh", "torch.rnn_relu",
    "torch.lstm_cell", "torch.gru_cell", "torch.rnn_tanh_cell", "torch.rnn_relu_cell", "torch._VF",
    "course_lib.cells",
)


def _dotted_names(tree: ast.AST) -> set[str]:
    """Every dotted name the code mentions (``nn.LSTMCell``, ``torch.gru``, plain names), with
    names bound by an ``import`` inside the code expanded to what they import."""
    names, aliases = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts = []
            while isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            if isinstance(node, ast.Name):
                names.add(".".join([node.id, *reversed(parts)]))
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
    expanded = {aliases[n.split(".")[0]] + n[len(n.split(".")[0]):] for n in names if n.split(".")[0] in aliases}
    return names | expanded | set(aliases.values())


def _resolve(dotted: str, namespace: dict):
    """The object a dotted name refers to in ``namespace`` (a module's globals), or None."""
    head, *rest = dotted.split(".")
    value = namespace.get(head)
    if value is None and head in ("torch", "course_lib"):  # imported inside the code itself
        value = importlib.import_module(head)
    if value is None:
        return None
    for part in rest:
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def _is_forbidden(value, dotted: str, banned_objects: list, banned_names: tuple[str, ...]) -> bool:
    if any(value is banned for banned in banned_objects if banned is not None):
        return True
    module = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None) or ""
    # A local alias cannot be resolved; its spelling still gives it away (``nn.LSTMCell``).
    tails = [b.split(".", 1)[-1] for b in banned_names if b.count(".") >= 2]
    textual = any(dotted == tail or dotted.endswith("." + tail) for tail in tails)
    return textual or any(module == b or module.startswith(b + ".") for b in banned_names)


def check_from_scratch(function_or_class: Callable, forbidden: Iterable[str] = FORBIDDEN_FOR_CELLS) -> None:
    """Fail when the code of ``function_or_class`` uses one of the ``forbidden`` library versions.

    The check reads the source and resolves every name it mentions in the code's module, so an
    alias (``from torch.nn import LSTMCell as Cell``) is caught as well as ``nn.LSTMCell``.
    It is a guard against an honest shortcut, not a sandbox.
    """
    forbidden = tuple(forbidden)
    if inspect.isclass(function_or_class):
        _check_class_from_scratch(function_or_class, forbidden)
        return
    try:
        source = textwrap.dedent(inspect.getsource(function_or_class))
    except (OSError, TypeError) as error:
        raise CheckFailed(f"cannot read the code of {function_or_class!r} ({error}); "
                          "define it in a notebook cell with `def` or `class`.") from None
    banned_objects = [_resolve(name, {}) for name in forbidden]
    namespace = getattr(function_or_class, "__globals__", None)
    if namespace is None:
        namespace = vars(inspect.getmodule(function_or_class) or object())
    for dotted in sorted(_dotted_names(ast.parse(source))):
        value = _resolve(dotted, namespace)
        if _is_forbidden(value, dotted, banned_objects, forbidden):
            name = getattr(function_or_class, "__name__", "your code")
            raise CheckFailed(
                f"{name} uses `{dotted}`, the library version of what this exercise asks you to "
                f"write. Implement it from the equations with tensor operations "
                f"(matrix products, torch.sigmoid, torch.tanh)."
            )


def _check_class_from_scratch(cls: type, forbidden: tuple[str, ...]) -> None:
    """A class passes when no base class and none of its own methods uses a forbidden version.

    Checked method by method: Python 3.11 cannot read the source of a class defined in a notebook,
    but it can read the source of each of its functions.
    """
    banned_objects = [_resolve(name, {}) for name in forbidden]
    for base in cls.__mro__[1:]:
        if _is_forbidden(base, f"{base.__module__}.{base.__qualname__}", banned_objects, forbidden):
            raise CheckFailed(f"{cls.__name__} inherits from {base.__module__}.{base.__qualname__}, the "
                              "library version of what this exercise asks you to write.")
    for member in vars(cls).values():
        function = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
        if inspect.isfunction(function):
            check_from_scratch(function, forbidden)
