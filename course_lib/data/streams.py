"""Continuous-stream batching for language models trained with truncated BPTT.

A corpus is one long sequence of token ids. :func:`batchify_stream` cuts it into ``B`` equal rows
laid side by side, so row ``b`` continues exactly where it stopped in the previous batch::

    ids     = a b c d e f g h i j k l m n o p q r s t u v w x y z     (N = 26)
    streams = a b c d e f          (B = 4 rows of L = 26 // 4 = 6; the tail "y z" is dropped)
              g h i j k l
              m n o p q r
              s t u v w x

:class:`StreamWindows` then walks along the rows ``num_steps`` at a time, giving inputs ``x`` and
targets ``y`` = the next token of each input. With ``num_steps = 2``, the first two windows are::

    x = [a b]  y = [b c]        x = [c d]  y = [d e]
        [g h]      [h i]            [i j]      [j k]
        ...                         ...

Because window ``k + 1`` of a row begins where window ``k`` ended, the hidden state at the end of
one batch is the right starting state for the next (carry it over, detached): that is how Zaremba
et al. (2014) train on PTB, and how the character models are trained too.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def batchify_stream(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut a stream into ``batch_size`` continuous rows.

    ids: (N,) token ids.  Returns streams: (batch_size, N // batch_size), a view of ``ids``;
    the last ``N % batch_size`` tokens are dropped so that every row has the same length.
    """
    if ids.dim() != 1:
        raise ValueError("batchify_stream takes one flat stream of ids (N,), "
                         f"got shape {tuple(ids.shape)}")
    length = ids.numel() // batch_size
    if length < 2:
        raise ValueError(f"{ids.numel()} tokens are too few for {batch_size} rows of at least "
                         "2 tokens (an input and its target)")
    return ids[: batch_size * length].view(batch_size, length)


class StreamWindows:
    """The ``(x, y)`` windows of truncated BPTT over streams, in order.

    streams: (B, L) from :func:`batchify_stream`. Each item is ``x: (B, T), y: (B, T)`` with
    ``y[:, t] == x[:, t + 1]`` inside the window and ``y[:, -1]`` the token after the window.
    ``T = num_steps``, except that the last window is shorter when ``L - 1`` is not a multiple of
    ``num_steps`` (every token but the first of a row is a target once); ``drop_last=True`` skips
    that short window, as Zaremba et al.'s reader does.
    """

    def __init__(self, streams: torch.Tensor, num_steps: int, *, drop_last: bool = False):
        if streams.dim() != 2:
            raise ValueError(f"streams must be (B, L), got shape {tuple(streams.shape)}")
        if num_steps < 1:
            raise ValueError(f"num_steps must be at least 1, got {num_steps}")
        self.streams = streams
        self.num_steps = num_steps
        self.drop_last = drop_last

    def __len__(self) -> int:
        targets = self.streams.shape[1] - 1  # the first token of each row is never a target
        full, rest = divmod(targets, self.num_steps)
        return full + (rest > 0 and not self.drop_last)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, self.num_steps * len(self), self.num_steps):
            stop = min(start + self.num_steps, self.streams.shape[1] - 1)
            yield self.streams[:, start:stop], self.streams[:, start + 1:stop + 1]
