"""Generate tokens from a trained language model: greedy, temperature and top-k sampling.

The model. Anything callable as ``model(ids, state) -> (logits, state)``:

* ``ids: (B, T)`` token ids, ``state``: ``None`` at first, then whatever the model returned;
* ``logits: (B, T, V)`` (one row of scores per position -- the last one is used) or ``(B, V)``.

An ``nn.Module`` LM ``Embedding -> nn.GRU/nn.LSTM(batch_first=True) -> Linear`` whose forward is
``forward(ids, state=None) -> (logits, state)`` works as it is. A step function written for one
token at a time, ``step(ids (B,), state) -> (logits (B, V), state)``, works with
``single_token=True``.

The choice of the next token from ``logits`` (see :func:`next_token_probabilities`)::

    p = softmax(logits / T)      # T < 1 sharpens, T > 1 flattens, T -> 0 approaches argmax
    T = 0                        # greedy decoding: exactly argmax, no randomness
    top_k = k                    # first keep only the k largest logits, then renormalise

Prompts. Each of the B prompts is fed through the model first, so that generation starts from the
state the prompt leaves behind -- that is what "completion" means. Prompts may differ in length:
rows with a short prompt start generating while longer prompts are still being read, one token per
step, so no row ever sees padding. Each row stops on its own at ``end_id`` or after
``max_new_tokens``. Pass a seeded ``torch.Generator`` to make sampling repeatable.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

StepFn = Callable[[torch.Tensor, object], tuple[torch.Tensor, object]]


def next_token_probabilities(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None
) -> torch.Tensor:
    """The distribution the next token is drawn from: logits (B, V) -> probabilities (B, V).

    ``softmax(logits / temperature)`` over the ``top_k`` largest logits (all when None).
    ``temperature = 0`` gives the one-hot distribution of the argmax (greedy).
    """
    if temperature < 0:
        raise ValueError(
            f"temperature must be >= 0 (0 means greedy: always the most likely token); "
            f"got {temperature}. Note: the course divides logits by T; it does not multiply."
        )
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive number of tokens to keep (or None); got {top_k}")
    logits = logits.float()
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).float()
    if top_k is not None and top_k < logits.shape[-1]:
        # Scatter the k winners back into a sea of -inf: exactly k survive, even with ties.
        values, indices = logits.topk(top_k, dim=-1)
        logits = torch.full_like(logits, float("-inf")).scatter(-1, indices, values)
    return F.softmax(logits / temperature, dim=-1)


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row: logits (B, V) -> ids (B,). ``temperature=0`` is argmax, no draw."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    probabilities = next_token_probabilities(logits, temperature, top_k)
    if generator is not None:  # draw where the generator lives: a CPU generator serves a GPU model
        probabilities = probabilities.to(generator.device)
    ids = torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)
    return ids.to(logits.device)


def _model_device(model) -> torch.device:
    if isinstance(model, nn.Module):
        parameter = next(model.parameters(), None)
        if parameter is not None:
            return parameter.device
    return torch.device("cpu")


def _as_id_lists(prompts) -> list[list[int]]:
    """A (B, T) tensor, or B lists / 1-D tensors of ids -> B lists of Python ints."""
    if isinstance(prompts, torch.Tensor):
        return prompts.tolist()
    return [prompt.tolist() if isinstance(prompt, torch.Tensor) else [int(i) for i in prompt]
            for prompt in prompts]


def _last_logits(logits: torch.Tensor) -> torch.Tensor:
    return logits[:, -1, :] if logits.dim() == 3 else logits  # (B, T, V) -> (B, V)


@torch.no_grad()
def generate(
    model: nn.Module | StepFn,
    prompts: Sequence[Sequence[int]] | torch.Tensor,
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    end_id: int | None = None,
    generator: torch.Generator | None = None,
    single_token: bool = False,
) -> list[list[int]]:
    """Continue each prompt; returns B lists of NEW token ids (the prompt is not repeated).

    model: ``model(ids (B, T), state) -> (logits (B, T, V) or (B, V), state)``; with
        ``single_token=True``, ``model(ids (B,), state) -> (logits (B, V), state)``.
    prompts: B non-empty lists of ids (lengths may differ), or a LongTensor (B, T).
        For generation "from scratch" give ``[[START_ID]] * B``.
    end_id: a row stops right after producing it (it is the last id of that row's list);
        a row without it stops after ``max_new_tokens``.
    temperature, top_k, generator: see :func:`next_token_probabilities`; 0 is greedy.
    An ``nn.Module`` is put in eval mode for the duration (no dropout) and restored afterwards.
    """
    prompts = _as_id_lists(prompts)
    if not prompts or any(len(prompt) == 0 for prompt in prompts):
        raise ValueError("every prompt needs at least one token (for a start from scratch, "
                         "use the start id: prompts=[[START_ID]])")
    next_token_probabilities(torch.zeros(1, 1), temperature, top_k)  # reject bad settings early
    device = _model_device(model)
    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    try:
        return _generate(model, prompts, device, max_new_tokens, temperature, top_k, end_id,
                         generator, single_token)
    finally:
        if was_training:
            model.train()


def _generate(model, prompts, device, max_new_tokens, temperature, top_k, end_id, generator,
              single_token) -> list[list[int]]:
    def call(ids: torch.Tensor, state):  # ids: (B, T) -> logits of the last position (B, V)
        if single_token:
            for position in range(ids.shape[1]):
                logits, state = model(ids[:, position], state)
            return logits, state
        logits, state = model(ids, state)
        return _last_logits(logits), state

    batch_size, lengths = len(prompts), [len(prompt) for prompt in prompts]
    # Read the part every prompt has in one call; longer prompts are finished one step at a time.
    shared = min(lengths)
    logits, state = call(torch.tensor([p[:shared] for p in prompts], device=device), None)
    generated: list[list[int]] = [[] for _ in range(batch_size)]
    finished = [max_new_tokens <= 0] * batch_size
    position = shared  # index of the next prompt token for rows still reading their prompt
    while not all(finished):
        next_ids = sample_next(logits, temperature, top_k, generator).tolist()
        for row in range(batch_size):
            if position < lengths[row]:
                next_ids[row] = prompts[row][position]  # still reading: force the prompt token
            elif not finished[row]:
                generated[row].append(next_ids[row])
                finished[row] = next_ids[row] == end_id or len(generated[row]) >= max_new_tokens
        if all(finished):
            break
        logits, state = call(torch.tensor(next_ids, device=device)[:, None], state)
        position += 1
    return generated


def sample_text(
    model: nn.Module | StepFn,
    vocab,
    prompt: str,
    *,
    length: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    end_id: int | None = None,
    generator: torch.Generator | None = None,
    single_token: bool = False,
) -> str:
    """Prompt + up to ``length`` generated characters (or tokens), as text.

    vocab: anything with ``encode(text) -> ids`` (a list or a 1-D tensor) and ``decode(ids)``
        returning a string or a list of characters -- e.g. the ``CharCorpus`` of
        ``course_lib.data.text`` or a character ``Vocabulary``. The prompt must encode to at
        least one id. (For word models, call :func:`generate` with the prompt's ids.)
    Example: ``sample_text(model, corpus, "ROMEO:", length=300, temperature=0.8, generator=g)``.
    """
    prompt_ids = _as_id_lists([vocab.encode(prompt)])
    if not prompt_ids[0]:
        raise ValueError("the prompt encodes to no tokens; give at least one character, e.g. '\\n'")
    new_ids = generate(model, prompt_ids, max_new_tokens=length, temperature=temperature,
                       top_k=top_k, end_id=end_id, generator=generator, single_token=single_token)[0]
    decoded = vocab.decode(new_ids)
    return prompt + (decoded if isinstance(decoded, str) else "".join(decoded))
