"""course_lib.tbptt_graph on a CPU: the captured step's arithmetic, its epoch, and the checks that
decide whether a graph may train. CUDA graphs themselves need a GPU: there
``benchmarks/word_lm_step.py`` compares the replayed step with the eager one, and ``capture`` checks
every graph before it trains. Here a stand-in graph replays by running the step again."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import tbptt_graph
from course_lib.train import fit

VOCAB, B, T = 13, 3, 5


class TinyLM(nn.Module):
    """Embedding -> nn.LSTM | nn.GRU (2 layers) -> dropout -> Linear: word_lm's model, small."""

    def __init__(self, cell="lstm", dropout=0.0):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 6)
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](6, 7, 2, batch_first=True, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(7, VOCAB)

    def forward(self, ids, state=None):
        hidden, state = self.rnn(self.dropout(self.embedding(ids)), state)
        return self.output(self.dropout(hidden)), state


class StandInGraph:
    """Replays by running the step again (what a CUDA graph's replay amounts to), optionally broken."""

    def __init__(self, owner, broken=None):
        self.owner, self.broken = owner, broken

    def replay(self):
        if self.broken == "frozen masks":
            torch.manual_seed(0)
        # the captured backward writes fresh gradients each replay (they were None at capture)
        self.owner.model.zero_grad(set_to_none=True)
        self.owner.nll.copy_(self.owner._step())
        if self.broken == "no update":
            with torch.no_grad():
                for p in self.owner.params:
                    p.add_(1e-3)


def stand_in(model, windows, clip_norm, broken=None) -> tbptt_graph.GraphedTBPTT:
    graphed = tbptt_graph.GraphedTBPTT.__new__(tbptt_graph.GraphedTBPTT)
    graphed._prepare(model, *windows[0], clip_norm)
    graphed.nll = torch.zeros(())
    graphed.graph = StandInGraph(graphed, broken)
    return graphed


def stream_windows(count, seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(VOCAB, (B, count * T + 1), generator=generator)
    return [(ids[:, k * T:(k + 1) * T], ids[:, k * T + 1:(k + 1) * T + 1]) for k in range(count)]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_an_epoch_of_replays_trains_as_fit_does(cell):
    torch.manual_seed(0)
    model = TinyLM(cell)
    reference = copy.deepcopy(model)
    windows = stream_windows(6)
    graphed = stand_in(model, windows, clip_norm=0.5)
    mean_nll = graphed.epoch(windows, lr=0.7)

    def summed_over_steps(logits, targets):  # the paper's loss: mean over tokens times T
        return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1)) * T

    history = fit(reference, windows, optimizer=torch.optim.SGD(reference.parameters(), lr=0.7),
                  loss_fn=summed_over_steps, epochs=1, clip_norm=0.5, carry_state=True, device="cpu", progress=False)
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert mean_nll == pytest.approx(history.last("train_loss") / T, rel=1e-5)


def test_the_state_is_carried_between_windows_and_reset_each_epoch():
    torch.manual_seed(0)
    model = TinyLM("gru")
    windows = stream_windows(2)
    graphed = stand_in(model, windows, clip_norm=5.0)
    graphed.epoch(windows, lr=0.0)  # lr 0: the weights stay, only the state moves
    carried = graphed.state[0].clone()
    with torch.no_grad():
        _, state = model(windows[0][0])
        _, state = model(windows[1][0], state)
    torch.testing.assert_close(carried, state)
    graphed.epoch(windows[:1], lr=0.0)
    with torch.no_grad():
        _, first = model(windows[0][0])
    torch.testing.assert_close(graphed.state[0], first)


def test_the_check_passes_a_faithful_graph_and_restores_the_weights():
    torch.manual_seed(0)
    model = TinyLM("lstm")
    windows = stream_windows(4)
    before = copy.deepcopy(model.state_dict())
    tbptt_graph._check(stand_in(model, windows, clip_norm=1.0), model, windows)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, before[name])


def test_the_check_refuses_a_graph_that_trains_otherwise():
    torch.manual_seed(0)
    model = TinyLM("lstm")
    windows = stream_windows(4)
    with pytest.raises(RuntimeError, match="differs from the eager step"):
        tbptt_graph._check(stand_in(model, windows, clip_norm=1.0, broken="no update"), model, windows)


def test_the_check_refuses_a_graph_that_froze_the_dropout_masks():
    torch.manual_seed(0)
    model = TinyLM("lstm", dropout=0.5)
    windows = stream_windows(2)
    tbptt_graph._check(stand_in(model, windows, clip_norm=1.0), model, windows)  # fresh masks: passes
    with pytest.raises(RuntimeError, match="same dropout masks"):
        tbptt_graph._check(stand_in(model, windows, clip_norm=1.0, broken="frozen masks"), model, windows)


def test_capture_without_a_gpu_says_train_eagerly():
    model = TinyLM("lstm")
    assert tbptt_graph.capture(model, stream_windows(2), clip_norm=5.0) is None
