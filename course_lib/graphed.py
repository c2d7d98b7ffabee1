"""CUDA graphs for the fast path: a whole unroll's forward and backward replayed as two graphs.

Why: on a GPU, :mod:`course_lib.fastpath` launches about ten small kernels per step forward and
fifteen backward; at course sizes each kernel finishes faster than Python can launch the next,
so the GPU idles. A CUDA graph records the launches once per shape and replays them with one
call. Each shape (cell kind, B, T, I, H, dtype, biases) gets its own pair of graphs, captured when
it comes for the third time in training (a few forward+backward runs of warm-up, capture and a
check); shapes seen once or twice, and calls without gradients, run the eager fast path.

The graphs read and write fixed ("static") buffers. Each call copies its inputs in, replays,
and copies the results out; the forward's buffers are copied aside for the backward, so that
the same shape may run again (another layer, another batch) before this call's backward.

Used only on CUDA; a padded batch runs masked (every row every step, see
:class:`course_lib.fastpath.Plan`), its lengths one more static input, so one graph serves all lengths.
Right after a capture, the graphs' forward and backward are compared with the eager fast path on
the same inputs; any failure to capture, or any difference, warns once and that shape takes the
eager fast path from then on. ``ENABLED = False`` turns the graphs off.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from course_lib import fastpath

ENABLED = True
MAX_GRAPHS = 16  # pairs of graphs kept (each holds its buffers); the least recently used goes
WARMUP_RUNS = 2
CAPTURE_AT = 3  # capture a shape when it comes for the third time: one-off shapes stay eager

_graphs: OrderedDict[tuple, "_Captured"] = OrderedDict()
_failed: set[tuple] = set()
_seen: dict[tuple, int] = {}


def _key(plan, tensors) -> tuple:
    described = tuple(None if t is None else (tuple(t.shape), t.dtype, t.device) for t in tensors)
    return (plan.loop_class, plan.relu, len(plan.rows), plan.masked, described)


class _Captured:
    """Static inputs, the two graphs, and their static outputs for one shape."""

    def __init__(self, plan, tensors):
        self.lengths = None if plan.lengths is None else plan.lengths.clone()
        self.plan = plan._replace(lengths=self.lengths)  # the graphs read the static copy
        self.inputs = [None if t is None else t.detach().clone() for t in tensors]
        self.d_outputs = self.d_h = self.d_c = None
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the capture, as CUDA graphs require
            for _ in range(WARMUP_RUNS):
                self._forward()
                self._make_grad_buffers()
                self._backward()
        torch.cuda.current_stream().wait_stream(side)
        self.forward_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.forward_graph):
            self._forward()
        self._make_grad_buffers()
        self.backward_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.backward_graph, pool=self.forward_graph.pool()):
            self._backward()
        self._compare_with_eager(plan, tensors)

    def _compare_with_eager(self, plan, tensors):
        """Raise unless a replay gives what the eager fast path gives on the same inputs."""
        # Its own generator: capturing must not move the random numbers a training run draws.
        generator = torch.Generator(device=tensors[0].device).manual_seed(0)
        lengths = plan.lengths

        def probe(like):
            return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)

        d_outputs, d_h = probe(self.outputs[0]), probe(self.outputs[1])
        d_c = None if self.d_c is None else probe(self.outputs[2])
        weights = [tensors[i] for i in (1, 5, 6, 7)]
        outputs, saved = self.forward(tensors, lengths)
        replayed = list(outputs) + list(self.backward(saved, weights, d_outputs, d_h, d_c))
        eager_plan = plan._replace(lengths=None if lengths is None else lengths.clone())
        loop, eager_outputs = fastpath.run_forward(eager_plan, *[None if t is None else t.detach() for t in tensors])
        needs = (True, True, tensors[2] is not None)
        eager = list(eager_outputs) + list(fastpath.run_backward(loop, eager_plan, d_outputs, d_h, d_c, needs))
        tolerance = 1e-9 if tensors[0].dtype == torch.float64 else 1e-3
        for index, (ours, reference) in enumerate(zip(replayed, eager)):
            if (ours is None) != (reference is None):
                raise RuntimeError(f"result {index}: the replay and the eager path disagree on None")
            if ours is not None:
                difference = (ours - reference).abs().max().item()
                if not difference <= tolerance * (1 + reference.abs().max().item()):
                    raise RuntimeError(f"result {index} of the replay differs from the eager path by {difference:.3g}")

    def _forward(self):
        self.loop, self.outputs = fastpath.run_forward(self.plan, *self.inputs)

    def _make_grad_buffers(self):
        self.d_outputs, self.d_h = torch.zeros_like(self.outputs[0]), torch.zeros_like(self.outputs[1])
        self.d_c = torch.zeros_like(self.outputs[2]) if len(self.outputs) == 3 else None

    def _backward(self):
        needs = (True, True, self.inputs[2] is not None)  # x, w_ih, bias: every gradient, every time
        self.grads = fastpath.run_backward(self.loop, self.plan, self.d_outputs, self.d_h, self.d_c, needs)

    def forward(self, tensors, lengths, keep: bool = True) -> tuple[tuple[Tensor, ...], list[Tensor] | None]:
        """Replay the forward on ``tensors`` (and ``lengths``, masked): fresh outputs and (``keep``)
        a copy of what the backward reads, lengths included.

        Copies are taken at once: the next replay of either graph overwrites the static buffers.
        """
        for static, tensor in zip(self.inputs, tensors):
            if static is not None:
                static.copy_(tensor)
        if self.lengths is not None:
            self.lengths.copy_(lengths)
        self.forward_graph.replay()
        outputs = tuple(t.clone() for t in self.outputs)
        if not keep:
            return outputs, None
        kept = [b.clone() for b in self.loop.forward_buffers()]
        return outputs, kept + ([] if self.lengths is None else [self.lengths.clone()])

    def backward(self, saved: list[Tensor], weights, d_outputs, d_h, d_c) -> tuple:
        """Replay the backward for a forward whose buffers were ``saved``; fresh gradients.

        ``weights``: that forward's ``(w_ih, w_hh, w_ch, b_hn)``; another cell of the same shape
        (the next layer of a stack) may have run since and left its own in the static inputs.
        """
        statics = self.loop.forward_buffers() + ([] if self.lengths is None else [self.lengths])
        for static, kept in zip(statics, saved, strict=True):
            static.copy_(kept)
        for index, weight in zip((1, 5, 6, 7), weights):
            if weight is not None:
                self.inputs[index].copy_(weight)
        for static, grad in ((self.d_outputs, d_outputs), (self.d_h, d_h), (self.d_c, d_c)):
            if static is not None:
                static.zero_() if grad is None else static.copy_(grad)
        self.backward_graph.replay()
        return tuple(None if g is None else g.clone() for g in self.grads)


class _GraphedUnroll(torch.autograd.Function):
    """:class:`course_lib.fastpath._Unroll` replayed from CUDA graphs; same inputs and outputs."""

    @staticmethod
    def forward(ctx, captured, lengths, *tensors):
        outputs, saved = captured.forward(tensors, lengths)
        ctx.captured, ctx.saved = captured, saved
        # The weights, through autograd: changing one in place before backward is an error.
        ctx.save_for_backward(*(tensors[i] for i in (1, 5, 6, 7)))
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, d_outputs, d_h, d_c=None):
        grads = ctx.captured.backward(ctx.saved, ctx.saved_tensors, d_outputs, d_h, d_c)
        needs = ctx.needs_input_grad[1:]
        return (None, None, *(g if need else None for g, need in zip(grads, needs[1:])))


def _capture(plan, tensors):
    key = _key(plan, tensors)
    if key in _failed:
        return None
    captured = _graphs.get(key)
    if captured is None:
        if len(_seen) > 4096:  # a bound on the bookkeeping, not a cache
            _seen.clear()
        _seen[key] = _seen.get(key, 0) + 1
        if _seen[key] < CAPTURE_AT:
            return None
        try:
            with torch.no_grad():  # copies into the static buffers must not join anyone's graph
                captured = _Captured(plan, tensors)
        except Exception as error:  # noqa: BLE001 -- any failure: the eager path still works
            _failed.add(key)
            x = tensors[0]
            warnings.warn(f"CUDA graph capture failed for {plan.loop_class.__name__[1:-4]} on x {tuple(x.shape)} {x.dtype}; "
                          f"using the eager fast path ({type(error).__name__}: {error})", stacklevel=3)
            return None
        _graphs[key] = captured
        while len(_graphs) > MAX_GRAPHS:
            _graphs.popitem(last=False)
    _graphs.move_to_end(key)
    return captured


def unroll(plan, tensors) -> tuple[Tensor, ...] | None:
    """Run :class:`course_lib.fastpath._Unroll` from CUDA graphs; None when graphs cannot be used.

    ``tensors``: ``(x, w_ih, bias, h0, c0, w_hh, w_ch, b_hn)`` as for ``_Unroll``.
    """
    if not ENABLED or (torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()):
        # (inside someone else's capture, ours cannot nest: the eager kernels get captured instead)
        return None
    captured = _capture(plan, tensors)
    if captured is None:
        return None
    if not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)):
        return captured.forward(tensors, plan.lengths, keep=False)[0]  # no backward will come
    return _GraphedUnroll.apply(captured, plan.lengths, *tensors)
