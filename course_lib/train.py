"""The training loop every chapter uses: :func:`fit` and :func:`evaluate`.

One optimizer step is the textbook five lines, and :func:`fit` adds only what a course needs
around them -- per-epoch evaluation, gradient clipping with the norm recorded, truncated BPTT,
checkpoints that resume exactly, progress bars and a :class:`~course_lib.history.History`::

    logits, targets, state = forward(model, batch, state)   # the model's prediction
    loss = loss_fn(logits, targets)
    optimizer.zero_grad(); loss.backward()
    clip_grad_norm_(model.parameters(), clip_norm)          # optional
    optimizer.step()

Batches. By default a batch is a tuple ``(*inputs, targets)`` and the model is called as
``model(*inputs)``: ``(x, y)`` gives ``model(x)``; ``(ids, lengths, mask, labels)`` gives
``model(ids, lengths, mask)``. ``train_batches`` is anything that can be iterated once per epoch
(a list, a ``DataLoader``) or a function ``epoch -> batches`` (epochs count from 1). For another
batch layout pass ``forward=`` a function ``(model, batch, state) -> (logits, targets, state)``.

Truncated BPTT (``carry_state=True``). The model is called as ``model(*inputs, state)`` and
returns ``(logits, state)``; the state goes on to the next batch of the same epoch, *detached*
from the graph of the previous batch, so gradients flow back at most one batch (T steps) while
the hidden state still remembers the text before it. The state starts as ``None`` each epoch
(and for evaluation). Consecutive batches must therefore continue each other, row by row (the
"continuous stream" batching of the PTB chapter). Without ``carry_state`` a model returning
``(logits, state)`` is fine too: the state is dropped.

Reproducibility. Seed before building the model (``config.seed_everything``). The order of the
batches must come from a seeded source: a fixed list, a ``DataLoader(shuffle=True)`` (it draws
from torch's global generator, which checkpoints save), a ``DataLoader(generator=g)`` (``g`` is
saved too) or a function of the epoch. Checkpoints are written after every epoch, so an
interrupted run resumed with ``resume=True`` repeats the uninterrupted run's losses exactly.

After each epoch. ``on_epoch_end(epoch, model, row)`` runs once per epoch, after its training
and validation, with that epoch's numbers so far (``row["valid_accuracy"]``, ...): keep the best
weights, sample a line of text, measure on a test set. The numbers it
returns as a dict join the epoch's row -- History columns, the epoch summary, TensorBoard -- and
it runs before the checkpoint is written, so a resumed run repeats it exactly.

TensorBoard. With ``tensorboard_dir`` and the ``tensorboard`` package installed, losses, gradient
norms and epoch metrics are also written there; without the package fit warns once and goes on.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import config
from course_lib.checkpoint import load_checkpoint, save_checkpoint
from course_lib.history import History

Forward = Callable[[nn.Module, Any, Any], tuple[torch.Tensor, torch.Tensor, Any]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
OnEpochEnd = Callable[[int, nn.Module, dict], "dict[str, float] | None"]


# ----------------------------------------------------------------------------- calling the model

def _split(batch) -> tuple[Sequence, torch.Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError(
            f"fit/evaluate expect each batch as a tuple (*inputs, targets), e.g. (x, y) or "
            f"(ids, lengths, mask, labels); got {type(batch).__name__}. For another layout pass "
            "forward=lambda model, batch, state: (logits, targets, state)."
        )
    return batch[:-1], batch[-1]


def forward_stateless(model: nn.Module, batch, state=None):
    """``logits = model(*inputs)`` for a batch ``(*inputs, targets)``; any returned state is dropped."""
    inputs, targets = _split(batch)
    output = model(*inputs)
    logits = output[0] if isinstance(output, tuple) else output  # (logits, state) from an LM
    return logits, targets, None


def forward_carrying_state(model: nn.Module, batch, state):
    """``logits, state = model(*inputs, state)`` for truncated BPTT; ``state`` is None at first."""
    inputs, targets = _split(batch)
    logits, state = model(*inputs, state)
    return logits, targets, state


def detach_state(state):
    """Cut the graph behind a hidden state: a tensor, or a tuple/list of them such as LSTM's (h, c)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(part) for part in state)


def to_device(batch, device: torch.device):
    """Move every tensor in a (nested) tuple/list/dict batch to ``device``; leave the rest alone."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(part, device) for part in batch)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    return batch


def _batches_for_epoch(batches, epoch: int) -> Iterable:
    return batches(epoch) if callable(batches) else batches


def _length(batches) -> int | None:
    try:
        return len(batches)
    except TypeError:  # generators, iterable datasets: the progress bar just counts
        return None


def _check_reusable(batches, name: str) -> None:
    # A generator would be empty from the second epoch on -- a silent, confusing failure.
    if batches is not None and not callable(batches) and iter(batches) is batches:
        raise TypeError(
            f"{name} is a one-shot iterator (e.g. a generator), so epoch 2 would see no data; "
            "pass a list, a DataLoader, or a function epoch -> batches."
        )


# ----------------------------------------------------------------------------- evaluation

def _run_metrics(metrics, logits, targets) -> None:
    with torch.no_grad():
        for metric in metrics:
            metric.update(logits.detach(), targets)


def _results(losses: list[float], metrics) -> dict[str, float]:
    if not losses:
        raise ValueError("there were no batches: check the data (and drop_last with tiny sets)")
    return {"loss": sum(losses) / len(losses), **{metric.name: metric.compute() for metric in metrics}}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches,
    *,
    loss_fn: LossFn,
    metrics: Sequence = (),
    carry_state: bool = False,
    forward: Forward | None = None,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Loss and metrics of ``model`` over ``batches``, in eval mode without gradients.

    Returns ``{"loss": mean batch loss, metric.name: metric.compute(), ...}``, e.g.
    ``evaluate(model, test_batches, loss_fn=F.cross_entropy, metrics=[Accuracy()])``.
    With ``carry_state`` the hidden state runs through all batches (a continuous text stream).
    """
    forward = forward or (forward_carrying_state if carry_state else forward_stateless)
    device = torch.device(device) if device is not None else config.device()
    was_training = model.training
    model.eval()
    for metric in metrics:
        metric.reset()
    losses, state = [], None
    for batch in batches:
        batch = to_device(batch, device)
        logits, targets, state = forward(model, batch, state if carry_state else None)
        losses.append(loss_fn(logits, targets).item())
        _run_metrics(metrics, logits, targets)
    model.train(was_training)
    return _results(losses, metrics)


# ----------------------------------------------------------------------------- training

def _gradient_norms(parameters: list[nn.Parameter], clip_norm: float | None) -> tuple[float, float]:
    """Clip the gradients in place (if asked) and return the global L2 norm (before, after)."""
    if clip_norm is None:
        norm = float(torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None]))
        return norm, norm
    # clip_grad_norm_ returns the norm measured BEFORE scaling the gradients down.
    before = float(torch.nn.utils.clip_grad_norm_(parameters, clip_norm))
    after = float(torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None]))
    return before, after


def _open_tensorboard(log_dir):
    if log_dir is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn("tensorboard is not installed, so nothing is written to tensorboard_dir "
                      "(pip install tensorboard to enable it); training goes on.", stacklevel=3)
        return None
    return SummaryWriter(str(log_dir))


def _callback_columns(extra, row: dict[str, float], epoch: int) -> dict[str, float]:
    """The entries ``on_epoch_end`` returned, checked: a dict of new column names to numbers."""
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise TypeError(f"on_epoch_end must return a dict of numbers (the new History columns) or None; "
                        f"after epoch {epoch} it returned a {type(extra).__name__}.")
    taken = sorted(set(extra) & (set(row) | {"lr", "seconds"}))
    if taken:
        raise ValueError(f"on_epoch_end returned {taken}, which fit already records; "
                         "name the columns differently, e.g. 'test_loss', 'test_accuracy'.")
    return {name: float(value) for name, value in extra.items()}


def _epoch_summary(row: dict[str, float], epochs: int) -> str:
    parts = [f"epoch {int(row['epoch'])}/{epochs}"]
    parts += [f"{name} {value:.4g}" for name, value in row.items() if name not in ("epoch", "seconds")]
    return "  ".join(parts) + f"  ({row['seconds']:.1f} s)"


def fit(
    model: nn.Module,
    train_batches,
    *,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    epochs: int = 1,
    max_steps: int | None = None,
    valid_batches=None,
    metrics: Sequence = (),
    scheduler=None,
    scheduler_interval: str = "epoch",
    clip_norm: float | None = None,
    carry_state: bool = False,
    forward: Forward | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = False,
    device: torch.device | str | None = None,
    progress: bool = True,
    tensorboard_dir: str | Path | None = None,
    on_epoch_end: OnEpochEnd | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs (or until ``max_steps`` optimizer steps) and return its History.

    model: an ``nn.Module``; moved to ``device`` (default: CUDA if available, else CPU).
    train_batches / valid_batches: batches ``(*inputs, targets)`` (see the module docstring),
        re-iterated every epoch, or functions ``epoch -> batches``.
    loss_fn: ``(logits, targets) -> scalar``, e.g. ``F.cross_entropy`` for logits (B, C) and labels
        (B,), or ``metrics.masked_cross_entropy`` for logits (B, T, V) and targets (B, T).
    metrics: accumulators from :mod:`course_lib.metrics` (``[Accuracy()]``, ``[Perplexity()]``),
        computed on the training batches and on the validation batches every epoch.
    scheduler: stepped once per epoch (``scheduler_interval="epoch"``) or per batch (``"step"``);
        a ``ReduceLROnPlateau`` is stepped per epoch with the validation (else training) loss.
    clip_norm: rescale the gradients so that their global L2 norm is at most this.
    carry_state: truncated BPTT -- pass the detached hidden state from batch to batch.
    max_steps: stop after this many optimizer steps in all; the epoch it cuts short is recorded
        (and checkpointed) like a whole one.
    checkpoint_path: save the whole run there after every epoch; with ``resume=True`` continue
        from it when it exists (``epochs`` is the total, counting the epochs already done).
    progress: tqdm bars and one summary line per epoch; ``False`` is silent.
    on_epoch_end: a function ``(epoch, model, row) -> dict | None`` called once per epoch (epochs
        count from 1), after the epoch's training and validation and before its row is logged.
        ``row`` is a copy of the epoch's numbers so far (``epoch``, ``train_*``, ``valid_*``); the
        model is in training mode (``evaluate`` switches to eval mode and back). The dict's
        entries (names to numbers) are added to the epoch's row, so they become History columns,
        appear in the epoch summary and in TensorBoard; ``None`` adds nothing. It runs before the
        checkpoint is saved, so a resumed run has the same columns (and random draws) as an
        uninterrupted one. An exception in it stops ``fit``. Two examples, keeping the best
        weights and sampling text::

            def keep_best(epoch, model, row):  # best = {"valid_accuracy": -1.0} before fit
                if row["valid_accuracy"] > best["valid_accuracy"]:
                    best.update(valid_accuracy=row["valid_accuracy"], epoch=epoch,
                                weights=copy.deepcopy(model.state_dict()))

            fit(model, batches, ..., valid_batches=valid, metrics=[Accuracy()], on_epoch_end=keep_best)
            fit(model, windows, ..., on_epoch_end=lambda epoch, model, row:
                print(sample_text(model, corpus, "ROMEO:", length=80, temperature=0.5)))

    History columns: per step ``loss``, ``grad_norm`` (before clipping), ``clipped_grad_norm``;
    per epoch ``epoch``, ``train_loss``, ``train_<metric>``, ``valid_loss``, ``valid_<metric>``,
    the entries ``on_epoch_end`` returns, ``lr``, ``seconds``.
    """
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'step', not {scheduler_interval!r}")
    _check_reusable(train_batches, "train_batches")
    _check_reusable(valid_batches, "valid_batches")
    forward = forward or (forward_carrying_state if carry_state else forward_stateless)
    device = torch.device(device) if device is not None else config.device()
    model.to(device)
    parameters = [p for p in model.parameters() if p.requires_grad]
    # A DataLoader(generator=g) shuffles with g, not the global generator: checkpoint it as well.
    data_generator = getattr(train_batches, "generator", None)
    data_generator = data_generator if isinstance(data_generator, torch.Generator) else None
    checkpoint = dict(model=model, optimizer=optimizer, scheduler=scheduler,
                      data_generator=data_generator)

    history, epochs_done = History(), 0
    if resume and checkpoint_path is not None and Path(checkpoint_path).exists():
        history, epochs_done = load_checkpoint(checkpoint_path, **checkpoint)
        if progress:
            tqdm.write(f"resumed from {checkpoint_path} after epoch {epochs_done}")

    def out_of_steps() -> bool:
        return max_steps is not None and history.num_steps >= max_steps

    writer = _open_tensorboard(tensorboard_dir)
    try:
        for epoch in range(epochs_done + 1, epochs + 1):
            if out_of_steps():
                break
            started = time.perf_counter()
            learning_rate = optimizer.param_groups[0]["lr"]

            # ---- one pass over the training data
            model.train()
            for metric in metrics:
                metric.reset()
            losses, state = [], None
            batches = _batches_for_epoch(train_batches, epoch)
            bar = tqdm(batches, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress,
                       total=_length(batches))
            for batch in bar:
                if out_of_steps():
                    break
                batch = to_device(batch, device)
                # Truncated BPTT: keep the state's values, forget how they were computed.
                state = detach_state(state) if carry_state else None
                logits, targets, state = forward(model, batch, state)
                loss = loss_fn(logits, targets)
                loss_value = loss.item()
                if not math.isfinite(loss_value):  # stop before a nan step ruins the weights
                    raise FloatingPointError(
                        f"the loss became {loss_value} at step {history.num_steps + 1} (epoch "
                        f"{epoch}); try a smaller learning rate or gradient clipping (clip_norm=5)."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm, clipped_grad_norm = _gradient_norms(parameters, clip_norm)
                optimizer.step()
                if scheduler is not None and scheduler_interval == "step":
                    scheduler.step()

                history.log_step(loss=loss_value, grad_norm=grad_norm,
                                 clipped_grad_norm=clipped_grad_norm)
                losses.append(loss_value)
                _run_metrics(metrics, logits, targets)
                bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
                if writer is not None:
                    writer.add_scalar("step/loss", loss_value, history.num_steps)
                    writer.add_scalar("step/grad_norm", grad_norm, history.num_steps)
            bar.close()

            row = {"epoch": epoch}
            row.update({f"train_{name}": value for name, value in _results(losses, metrics).items()})
            if valid_batches is not None:
                valid = evaluate(model, _batches_for_epoch(valid_batches, epoch), loss_fn=loss_fn,
                                 metrics=metrics, carry_state=carry_state, forward=forward,
                                 device=device)
                row.update({f"valid_{name}": value for name, value in valid.items()})
            if on_epoch_end is not None:
                row.update(_callback_columns(on_epoch_end(epoch, model, dict(row)), row, epoch))
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(row.get("valid_loss", row["train_loss"]))  # it needs a number to watch
            elif scheduler is not None and scheduler_interval == "epoch":
                scheduler.step()
            row.update(lr=learning_rate, seconds=time.perf_counter() - started)
            history.log_epoch(**row)

            if progress:
                tqdm.write(_epoch_summary(row, epochs))
            if writer is not None:
                for name, value in row.items():
                    writer.add_scalar(f"epoch/{name}", value, epoch)
            if checkpoint_path is not None:
                save_checkpoint(checkpoint_path, history=history, epoch=epoch, **checkpoint)
    finally:
        if writer is not None:
            writer.close()
    return history
