"""The one data format between the grader and a sandboxed notebook: JSON lines, tensors as raw bytes.

Values cross the sandbox's pipes as one JSON object per line. Plain JSON carries ``None``, bools,
ints, floats, strings, lists and string-keyed dicts; three tagged objects carry the rest:

* ``{"__tensor__": dtype, "shape": [...], "data": base64}`` -- a torch tensor or numpy array as its
  raw little-endian bytes (never pickle, never ``torch.load``);
* ``{"__tuple__": [...]}`` -- a tuple (shapes and ``(h, c)`` states are tuples);
* ``{"__float__": "nan" | "inf" | "-inf"}`` -- the floats JSON cannot spell.

:func:`encode` runs on both sides. :func:`decode` is the grader's side: it treats every byte as
hostile and raises :class:`WireError` for anything outside the format (too long, too deep, too
many items, an unknown dtype, a shape that does not match its bytes), so a sandbox can only ever
send data, never objects, and never more than the caps.
"""

from __future__ import annotations

import base64
import json
import math
import numbers

import numpy as np

MAX_LINE_BYTES = 32_000_000   # one message; a tensor of a few million floats fits
MAX_DEPTH = 24                # nesting of lists, tuples and dicts
MAX_ITEMS = 200_000           # list items, dict keys and tensor elements counted together
MAX_STRING = 1_000_000        # characters of one string (a notebook cell's source included)
DTYPES = {"float64": np.float64, "float32": np.float32, "float16": np.float16, "int64": np.int64,
          "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_}


class WireError(ValueError):
    """A message from the sandbox is not in the format (or over a cap); it counts as no answer."""


def _tensor_to_wire(array: np.ndarray) -> dict:
    name = str(array.dtype)
    if name not in DTYPES:
        array, name = array.astype(np.float64), "float64"
    shape = list(array.shape)  # before ascontiguousarray, which makes a 0-d array 1-d
    array = np.ascontiguousarray(array, dtype=np.dtype(DTYPES[name]).newbyteorder("<"))
    return {"__tensor__": name, "shape": shape, "data": base64.b64encode(array.tobytes()).decode()}


def encode(value, _depth: int = 0):
    """``value`` as JSON-ready data; tensors, arrays, tuples and non-finite floats tagged.

    Objects of other types become ``{"__repr__": type name}`` so that a check can say what came back.
    """
    if _depth > MAX_DEPTH:
        raise WireError("value nested too deeply to send")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    type_name = type(value).__module__ + "." + type(value).__qualname__
    if type_name.startswith("torch.") and hasattr(value, "detach"):  # a tensor, without importing torch
        tensor = value.detach().cpu()
        if tensor.dtype.is_complex or str(tensor.dtype) == "torch.bfloat16":
            tensor = tensor.double()
        return _tensor_to_wire(tensor.resolve_conj().numpy())
    if isinstance(value, np.ndarray):
        return _tensor_to_wire(value)
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, _depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, _depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v, _depth + 1) for k, v in value.items()}
    return {"__repr__": type(value).__name__[:100]}


def dumps(message: dict) -> bytes:
    """One message as a JSON line (ASCII, so no byte of it can be a newline but the last)."""
    return (json.dumps(message, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")


class _Budget:
    def __init__(self):
        self.items = 0

    def spend(self, count: int) -> None:
        self.items += count
        if self.items > MAX_ITEMS:
            raise WireError(f"more than {MAX_ITEMS} values in one message")


def _tensor_from_wire(data: dict, budget: _Budget):
    import torch  # the grader has torch; decoding returns tensors to compare with torch references

    if set(data) != {"__tensor__", "shape", "data"} or data["__tensor__"] not in DTYPES:
        raise WireError(f"unknown tensor encoding {str(data.get('__tensor__'))[:40]!r}")
    shape = data["shape"]
    if not (isinstance(shape, list) and len(shape) <= 8
            and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_ITEMS for n in shape)):
        raise WireError("a tensor's shape must be at most 8 non-negative ints")
    count = math.prod(shape)
    budget.spend(count)
    if not isinstance(data["data"], str):
        raise WireError("a tensor's data must be base64 text")
    dtype = np.dtype(DTYPES[data["__tensor__"]]).newbyteorder("<")
    try:
        raw = base64.b64decode(data["data"], validate=True)
    except ValueError:
        raise WireError("a tensor's data is not base64") from None
    if len(raw) != count * dtype.itemsize:
        raise WireError(f"a tensor of shape {tuple(shape)} needs {count * dtype.itemsize} bytes; got {len(raw)}")
    array = np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(shape)
    return torch.from_numpy(array)


def _decode(data, depth: int, budget: _Budget):
    if depth > MAX_DEPTH:
        raise WireError(f"nested more than {MAX_DEPTH} levels")
    if data is None or isinstance(data, (bool, int, float)):
        budget.spend(1)
        return data
    if isinstance(data, str):
        if len(data) > MAX_STRING:
            raise WireError(f"a string longer than {MAX_STRING} characters")
        budget.spend(1)
        return data
    if isinstance(data, list):
        budget.spend(len(data))
        return [_decode(v, depth + 1, budget) for v in data]
    if isinstance(data, dict):
        budget.spend(len(data))
        if "__tensor__" in data:
            return _tensor_from_wire(data, budget)
        if set(data) == {"__tuple__"} and isinstance(data["__tuple__"], list):
            return tuple(_decode(v, depth + 1, budget) for v in data["__tuple__"])
        if set(data) == {"__float__"} and data["__float__"] in ("nan", "inf", "-inf"):
            return float(data["__float__"])
        if set(data) == {"__repr__"} and isinstance(data["__repr__"], str):
            return Opaque(data["__repr__"][:100])
        if any(k.startswith("__") and k.endswith("__") for k in data):
            raise WireError("unknown tagged object")
        return {k: _decode(v, depth + 1, budget) for k, v in data.items()}
    raise WireError(f"unexpected JSON value of type {type(data).__name__}")


class Opaque:
    """Stands for an object the sandbox could not send as data; only its type name came back."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"


def loads(line: bytes):
    """Decode one untrusted message line; :class:`WireError` for anything outside the format."""
    if len(line) > MAX_LINE_BYTES:
        raise WireError(f"message longer than {MAX_LINE_BYTES} bytes")
    try:
        data = json.loads(line.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise WireError(f"not a JSON line ({type(error).__name__})") from None
    return _decode(data, 0, _Budget())
