"""A small model the checks hand to a student's function: samplers (char_lm), training loops and
perplexity (word_lm).

It keeps the course's call contract for a language model, ``model(ids (B, T), state) -> (logits
(B, T, V), state)``, with dropout that only ``eval()`` switches off and a state to carry from call
to call, but it is deliberately *not* any exercise's answer (char_lm asks for Embedding ->
nn.GRU/nn.LSTM -> dropout -> Linear): each id reads a fixed random code (a buffer, never trained),
and the recurrence is torch's Elman layer, ``nn.RNN`` (tanh).
"""

from __future__ import annotations

import torch
from torch import nn


class StreamModel(nn.Module):
    """Fixed random codes (V, C) -> dropout -> Elman layer(s) -> dropout -> a linear read-out (H -> V).

    Args:
        vocab_size: V. hidden_size: H. code_size: C, the width of an id's code (default H).
        paired: two Elman layers side by side, read out from the sum of their outputs, so that the
            state is a pair of tensors, ``(h, h2)``, each (1, B, H), as an LSTM's ``(h, c)`` is a pair;
            otherwise one layer and the state is one tensor h (1, B, H), as a GRU's is.
        dropout: on the codes and before the read-out (off in ``eval()`` mode).

    forward(ids (B, T) int64, state=None) -> (logits (B, T, V), state); ``state`` None means zeros.
    """

    def __init__(self, vocab_size: int, hidden_size: int, code_size: int | None = None, paired: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        code_size = code_size or hidden_size
        self.paired = paired
        self.register_buffer("codes", torch.randn(vocab_size, code_size))
        self.layers = nn.ModuleList(nn.RNN(code_size, hidden_size, batch_first=True) for _ in range(2 if paired else 1))
        self.dropout = nn.Dropout(dropout)
        self.readout = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        inputs = self.dropout(self.codes[ids])
        if state is None:
            state = [None] * len(self.layers)
        elif not self.paired:
            state = [state]
        outputs, states = zip(*(layer(inputs, part) for layer, part in zip(self.layers, state)))
        scores = self.readout(self.dropout(sum(outputs)))
        return scores, (tuple(states) if self.paired else states[0])
