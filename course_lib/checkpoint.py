"""Save a training run at an epoch boundary and resume it exactly.

A checkpoint holds everything the next epoch depends on:

* the model's weights, the optimizer's state (momenta, Adam moments) and the scheduler's;
* the :class:`~course_lib.history.History` so far and the number of epochs done;
* the random number generators of Python, NumPy and PyTorch (CPU and CUDA), because the next
  epoch's shuffling, dropout masks and initial draws come from them; and, when the data comes
  from a ``DataLoader(..., generator=g)``, the state of that generator too.

With all of that restored, a resumed run on the CPU repeats the uninterrupted run's losses
bit for bit. The file is written to a temporary name next to the target and then renamed over
it (``os.replace`` is atomic), so a crash while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

from course_lib.history import History


def rng_states() -> dict:
    """The state of every random number generator a training step may draw from."""
    numpy_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        # As plain ints, so that the checkpoint loads with torch.load(weights_only=True).
        "numpy": {**numpy_state, "state": {"key": numpy_state["state"]["key"].tolist(),
                                           "pos": int(numpy_state["state"]["pos"])}},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_states(states: dict) -> None:
    random.setstate(_as_tuples(states["python"]))
    numpy_state = dict(states["numpy"])
    numpy_state["state"] = {"key": np.array(numpy_state["state"]["key"], dtype=np.uint32),
                            "pos": numpy_state["state"]["pos"]}
    np.random.set_state(numpy_state)
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _as_tuples(value):
    # random.setstate insists on tuples; a round trip through some serialisers gives lists.
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    history: History,
    epoch: int,
    scheduler=None,
    data_generator: torch.Generator | None = None,
) -> None:
    """Write the run's state after ``epoch`` epochs to ``path``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contents = {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "history": history.to_dict(),
        "rng": rng_states(),
        "data_generator": data_generator.get_state() if data_generator is not None else None,
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(contents, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler=None,
    data_generator: torch.Generator | None = None,
) -> tuple[History, int]:
    """Restore model, optimizer, scheduler and random generators in place from ``path``.

    Returns ``(history, epochs_done)``. The model and optimizer must be built the same way as
    in the run that saved the checkpoint (same sizes, same parameter order).
    """
    contents = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(contents["model"])
    except RuntimeError as error:
        raise RuntimeError(
            f"the checkpoint {path} was saved from a differently shaped model; build the model "
            f"exactly as in the saved run, or delete the checkpoint to start afresh.\n{error}"
        ) from error
    optimizer.load_state_dict(contents["optimizer"])
    if scheduler is not None and contents["scheduler"] is not None:
        scheduler.load_state_dict(contents["scheduler"])
    if data_generator is not None and contents["data_generator"] is not None:
        data_generator.set_state(contents["data_generator"])
    restore_rng_states(contents["rng"])
    return History.from_dict(contents["history"]), contents["epoch"]
