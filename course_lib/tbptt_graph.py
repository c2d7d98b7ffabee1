"""Truncated BPTT on a GPU: one whole training step captured as a CUDA graph, replayed per window.

Why: word_lm's ``full`` profile trains four PTB models, about 160,000 SGD steps of small cuDNN
kernels. Python launches a step's few hundred kernels one by one, and at these sizes the GPU
waits for it: on an H200 the paper's small model takes 3.5 ms per step eager and 0.99 ms as a
replayed graph, the medium one 4.8 and 3.4 ms (``benchmarks/word_lm_step.py``).

One replay does for one window ``(x, y)``, both ``(B, T)``, what the chapter's ``train_epoch`` does::

    logits, state = model(x, state)           # state: the previous window's final state, detached
    nll = cross_entropy(logits, y)            # mean per token
    (nll * T).backward()                      # summed over the T steps, averaged over the B rows
    g = g * min(1, clip_norm / (||g|| + 1e-6)) for every gradient g (the global norm, as clip_grad_norm_)
    p = p - lr * g                            # SGD
    total_nll += nll * B * T

The state starts at zeros each epoch (as ``state=None`` does) and lives in fixed buffers: the
graph copies each window's final state into them, which is the detach. ``lr`` is a tensor set once
per epoch. All windows of an epoch must have one shape (continuous-stream batching gives that).

A graph could go wrong quietly, so :func:`capture` checks it before any training and returns
``None`` (with a warning; train eagerly then) when it fails: without dropout, three replays must
give the losses and weights of three eager steps on a copy of the model; with dropout, two
replays on the same window from the same weights must differ (fresh masks; a graph that froze
them would train a different model). The model's weights are restored after the checks.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CHECK_STEPS = 3
WARMUP_STEPS = 3


def _as_tuple(state) -> tuple[Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def _as_state(buffers: tuple[Tensor, ...], like):
    return buffers if isinstance(like, tuple) else buffers[0]


def eager_step(model: nn.Module, x: Tensor, y: Tensor, state, lr: float, clip_norm: float):
    """One step as the chapter's ``train_epoch`` takes it (the reference the graph is checked against);
    returns (mean NLL, final state detached)."""
    logits, state = model(x, state)
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    model.zero_grad(set_to_none=True)
    (nll * y.shape[1]).backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip_norm)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(parameter.grad, alpha=-lr)
    return nll.detach(), _as_state(tuple(s.detach() for s in _as_tuple(state)), state)


class GraphedTBPTT:
    """The captured step for one model and one window shape. Build it with :func:`capture`."""

    def __init__(self, model: nn.Module, x: Tensor, y: Tensor, clip_norm: float):
        self._prepare(model, x, y, clip_norm)
        self._capture()

    def _prepare(self, model: nn.Module, x: Tensor, y: Tensor, clip_norm: float) -> None:
        """The static buffers the graph reads and writes."""
        self.model, self.params, self.clip_norm = model, list(model.parameters()), clip_norm
        self.x, self.y = x.clone(), y.clone()
        with torch.no_grad():
            _, state = model(x, None)  # the state's structure and shapes
        self.like = state
        self.state = tuple(torch.zeros_like(s) for s in _as_tuple(state))
        self.lr = torch.zeros((), device=x.device)  # zero during the warm-up: it trains nothing
        self.total = torch.zeros((), device=x.device, dtype=torch.float64)

    def _capture(self) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the capture: cuDNN picks its algorithms here
            for _ in range(WARMUP_STEPS):
                self._step()
        torch.cuda.current_stream().wait_stream(side)
        self.model.zero_grad(set_to_none=True)  # the captured backward allocates the gradients in the graph's pool
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.nll = self._step()

    def _step(self) -> Tensor:
        logits, new_state = self.model(self.x, _as_state(self.state, self.like))
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), self.y.reshape(-1))
        (nll * self.y.shape[1]).backward()
        grads = [p.grad for p in self.params]
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        scale = (self.clip_norm / (norm + 1e-6)).clamp(max=1.0) * self.lr
        with torch.no_grad():
            torch._foreach_sub_(self.params, torch._foreach_mul(grads, scale))
            for static, new in zip(self.state, _as_tuple(new_state)):
                static.copy_(new)
            self.total.add_(nll.double() * self.y.numel())
        return nll.detach()

    def reset_state(self) -> None:
        """Zeros, as ``state=None`` at the start of an epoch."""
        for static in self.state:
            static.zero_()

    def step(self, x: Tensor, y: Tensor) -> Tensor:
        """Train on one window; the mean NLL of it (a tensor on the device: no wait for the GPU)."""
        self.x.copy_(x)
        self.y.copy_(y)
        self.graph.replay()
        return self.nll.clone()

    def epoch(self, windows, lr: float) -> float:
        """One pass over ``windows`` in order with the state carried, as ``train_epoch``; the mean
        negative log-likelihood per token (one wait for the GPU, at the end)."""
        self.model.train()
        self.lr.fill_(lr)
        self.total.zero_()
        self.reset_state()
        tokens = 0
        for x, y in windows:
            self.step(x, y)
            tokens += y.numel()
        return float(self.total) / max(tokens, 1)


def _uses_dropout(model: nn.Module) -> bool:
    return any(getattr(module, "dropout", 0) if isinstance(module, nn.RNNBase) else
               (module.p if isinstance(module, nn.Dropout) else 0) for module in model.modules())


def _check(graphed: GraphedTBPTT, model: nn.Module, windows) -> None:
    """Raise unless the graph trains as the eager step does (see the module's docstring)."""
    start = copy.deepcopy(model.state_dict())
    if _uses_dropout(model):
        losses = []
        for _ in range(2):
            model.load_state_dict(start)
            graphed.lr.fill_(0.0)
            graphed.reset_state()
            losses.append(float(graphed.step(*windows[0])))
        if losses[0] == losses[1]:
            raise RuntimeError("two replays drew the same dropout masks")
        return
    reference = copy.deepcopy(model)
    state = None
    graphed.lr.fill_(1.0)
    graphed.reset_state()
    for x, y in windows[:CHECK_STEPS]:
        expected, state = eager_step(reference, x, y, state, 1.0, graphed.clip_norm)
        got = graphed.step(x, y)
        if not torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
            raise RuntimeError(f"a replay's loss {float(got):.6g} differs from the eager step's {float(expected):.6g}")
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        if not torch.allclose(ours, theirs, rtol=1e-3, atol=1e-5):
            raise RuntimeError("the weights after the replays differ from the eager steps'")
    model.load_state_dict(start)


def capture(model: nn.Module, windows, clip_norm: float) -> GraphedTBPTT | None:
    """The graphed step for ``model`` on windows shaped like ``windows[0]``, checked; ``None`` where
    there is no GPU, or (with a warning) where capturing or the check fails: train eagerly then."""
    if not torch.cuda.is_available() or not windows or not windows[0][0].is_cuda:
        return None
    start = copy.deepcopy(model.state_dict())
    model.train()
    try:
        graphed = GraphedTBPTT(model, *windows[0], clip_norm)
        _check(graphed, model, windows)
    except Exception as error:  # noqa: BLE001 (any failure means: train eagerly)
        warnings.warn(f"training without a CUDA graph: {type(error).__name__}: {error}", stacklevel=2)
        model.load_state_dict(start)
        model.zero_grad(set_to_none=True)
        return None
    model.load_state_dict(start)  # the warm-up and the checks trained a few steps
    return graphed
