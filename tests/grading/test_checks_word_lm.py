"""The word_lm chapter's checks without a sandbox: the solution passes every case, visible and hidden;
typical wrong answers fail the right exercise with a message that names the mistake."""

import re

import pytest
import torch
from torch import nn

from course_lib.checks.base import Case
from course_lib.checks.word_lm import CHECKS, STATES, stream_problem
from course_lib.grading.checks import CheckFailed
from local_checks import LocalChapter

WORD_LM = LocalChapter("word_lm")
answers, verdict = WORD_LM.edited, WORD_LM.verdict


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_solution_passes_every_case(name):
    result = verdict(name, answers())
    assert result.passed, result.message


TYPICAL_MISTAKES = [
    ("word_lm.windows_per_epoch", {"windows_per_epoch": ("(num_tokens // batch_size - 1)", "(num_tokens // batch_size)")},
     "windows_per_epoch(26, 4, 2): expected 2, got 3"),
    ("word_lm.batch_at", {"batch_at": ("rows[:, start + 1:start + num_steps + 1]", "rows[:, start:start + num_steps]")},
     "batch_at(N=26, B=4, T=2, k=0) y (the next token of each x)"),
    ("word_lm.detach_state", {"detach_state": ("return tuple(detach_state(part) for part in state)",
                                               "return [detach_state(part) for part in state]")},
     "detach_state((h, c)): expected a tuple of 2 parts, got a list"),
    ("word_lm.detach_state", {"detach_state": ("return state.detach()", "return state")},
     "detach_state(GRU state) is still attached to the graph"),
    ("word_lm.train_epoch", {"train_epoch": ("state = detach_state(state)", "state = None")},
     "match an epoch in which the state is not carried"),
    ("word_lm.train_epoch", {"train_epoch": ("loss = nll * y.shape[1]", "loss = nll")},
     "match an epoch in which the loss is the mean per token"),
    ("word_lm.train_epoch", {"train_epoch": ("        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)\n", "")},
     "match an epoch in which the gradient is not clipped"),
    ("word_lm.train_epoch", {"train_epoch": ("state = detach_state(state)", "pass")},
     "raised RuntimeError"),
    ("word_lm.perplexity", {"perplexity": [("total_nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), "
                                            "y.reshape(-1), reduction=\"sum\").double()\n            total_tokens += y.numel()",
                                            "total_nll += math.exp(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), "
                                            "y.reshape(-1)))\n            total_tokens += 1"),
                                           ("return math.exp(float(total_nll) / total_tokens)",
                                            "return float(total_nll) / total_tokens")]},
     "your value is the mean of the windows' perplexities"),
    ("word_lm.perplexity", {"perplexity": ("reduction=\"sum\").double()", "reduction=\"sum\", ignore_index=0).double()"),
                            },
     "got"),  # the tokens are still all counted: not exactly ignore_index=0, but wrong
    ("word_lm.perplexity", {"perplexity": ("reduction=\"sum\").double()\n            total_tokens += y.numel()",
                                           "reduction=\"sum\", ignore_index=0).double()\n"
                                           "            total_tokens += int((y != 0).sum())")},
     "what leaving out id 0 (ignore_index=0) gives"),
    ("word_lm.perplexity", {"perplexity": ("    model.eval()\n", "")}, "a hidden case of perplexity failed"),
    ("word_lm.perplexity", {"perplexity": ("logits, state = model(x, state)", "logits, state = model(x, None)")},
     "what a state reset to zeros at every window gives"),
]


@pytest.mark.parametrize("name, replacements, message", TYPICAL_MISTAKES)
def test_typical_mistakes_fail_with_a_message_that_names_them(name, replacements, message):
    result = verdict(name, answers(replacements))
    assert not result.passed and message in result.message, result.message


def test_the_mean_of_window_losses_fails_on_a_short_last_window():
    per_window = {"perplexity": ("total_nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), "
                                 "reduction=\"sum\").double()\n            total_tokens += y.numel()",
                                 "total_nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))\n"
                                 "            total_tokens += 1")}
    result = verdict("word_lm.perplexity", answers(per_window))
    assert not result.passed and "a hidden case of perplexity failed" in result.message, result.message


def test_visible_cases_run_in_the_students_kernel():
    namespace = WORD_LM.run(answers())
    assert CHECKS["word_lm.detach_state"].run_visible(namespace["detach_state"]) == "detach_state: correct (3 cases)"
    assert CHECKS["word_lm.perplexity"].run_visible(namespace["perplexity"]).startswith("perplexity: matches")
    assert CHECKS["word_lm.train_epoch"].run_visible(namespace["train_epoch"]).startswith("train_epoch: weights")


# -- the model the checks hand over is not char_lm's answer -------------------------------------------------
@pytest.mark.parametrize("name, replacements, message", [
    mistake for mistake in TYPICAL_MISTAKES
    if mistake[0] in ("word_lm.train_epoch", "word_lm.perplexity") and "hidden case" not in mistake[2]])
def test_the_visible_checks_of_the_model_exercises_name_the_mistake_too(name, replacements, message):
    [target] = replacements
    with pytest.raises(CheckFailed, match=re.escape(message)):
        CHECKS[name].run_visible(WORD_LM.run(answers(replacements))[target])


@pytest.mark.parametrize("kind", sorted(STATES))
def test_the_checks_model_keeps_the_contract_and_is_no_exercises_answer(kind):
    case = Case((kind, 0, 11, 5, 2, 3, 40), context={"dropout": 0.5})
    model, windows = stream_problem(case, 0.3, True)
    kinds = {type(module) for module in model.modules()}
    assert not kinds & {nn.Embedding, nn.GRU, nn.LSTM, nn.GRUCell, nn.LSTMCell} and nn.RNN in kinds
    x, _ = windows[0]
    model.eval()
    logits, state = model(x)
    assert logits.shape == (2, 3, 11) and torch.equal(model(x)[0], logits)  # eval(): no dropout
    parts = state if kind == "hc" else (state,)
    assert isinstance(state, tuple) == (kind == "hc") and all(p.shape == (1, 2, 5) for p in parts)
    assert not torch.allclose(model(x, state)[0], logits)  # the state carried changes what comes next
    model.train()
    assert not torch.equal(model(x)[0], model(x)[0])  # train(): dropout on


def test_the_librarys_graphed_step_is_ruled_out_of_train_epoch():
    rule = CHECKS["word_lm.train_epoch"].rule
    answer = ("from course_lib.tbptt_graph import eager_step as step\n\n\n"
              "def train_epoch(model, windows, optimizer, clip_norm=5.0):\n"
              "    state = None\n    for x, y in windows:\n        nll, state = step(model, x, y, state, 1.0, clip_norm)\n")
    assert "train_epoch uses" in rule.judge_sources([answer], "train_epoch")
