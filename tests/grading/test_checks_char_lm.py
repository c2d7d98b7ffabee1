"""The char_lm chapter's checks without a sandbox: the solution passes every case, visible and hidden;
typical wrong answers fail the right exercise with a message that names the mistake."""

import re

import pytest
import torch
from torch import nn

from course_lib.checks import char_lm as char_lm_checks
from course_lib.checks.char_lm import CHECKS
from course_lib.checks.rules import ForbiddenRule
from course_lib.grading.checks import CheckFailed
from local_checks import LocalChapter

CHAR_LM = LocalChapter("char_lm")
answers, verdict = CHAR_LM.edited, CHAR_LM.verdict


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_solution_passes_every_case(name):
    result = verdict(name, answers())
    assert result.passed, result.message


@pytest.mark.parametrize("name, replacements, message", [
    ("char_lm.next_char_distribution",
     {"next_char_distribution": ("logits / temperature", "logits * temperature")},
     "equals softmax(logits * T): that is the inverse temperature"),
    ("char_lm.sample", {"sample": ("if temperature == 0:", "if True:")}, "differs from the reference at position"),
    ("char_lm.sample", {"sample": ("    model.eval()\n", "")}, "a hidden case of sample failed"),
    ("char_lm.tbptt_windows", {"tbptt_windows": ("streams[:, start + 1:stop + 1]", "streams[:, start:stop]")},
     "y of window 0 (the next token of each x)"),
    ("char_lm.char_rnn", {"char_rnn": ("self.rnn(self.embedding(ids), state)", "self.rnn(self.embedding(ids))")},
     "logits of two halves, the state carried between them is wrong"),
    ("char_lm.char_rnn", {"char_rnn": ("self.output(self.dropout(hidden))",
                                       "self.output(F.dropout(hidden, 0.1, training=True))")},
     "with your weights (eval mode: no dropout) is wrong"),
    ("char_lm.char_rnn", {"char_rnn": ("return self.output(self.dropout(hidden)), state",
                                       "return torch.softmax(self.output(self.dropout(hidden)), -1), state")},
     "with your weights"),
    ("char_lm.find_loop", {"find_loop": ("while start > 0", "while False")},
     "find_loop('so the king, the king, the king, the king,', min_repeats=3): expected (2, 10), got (12, 10)"),
    ("char_lm.make_streams", {"make_streams": ("ids[: batch_size * length].reshape(batch_size, length)",
                                               "ids[: batch_size * length].reshape(length, batch_size).T")},
     "make_streams(N=26, B=4) rows"),
    ("char_lm.tbptt_windows", {"tbptt_windows": ("def tbptt_windows", "from course_lib import data as tools\n\n\n"
                                                 "def tbptt_windows")},
     ""),  # an unused import is allowed
])
def test_typical_mistakes_fail_with_a_message_that_names_them(name, replacements, message):
    result = verdict(name, answers(replacements))
    if message:
        assert not result.passed and message in result.message, result.message
    else:
        assert result.passed, result.message


def test_the_library_reached_through_a_top_level_alias_is_caught():
    library = ("from course_lib import data as tools\n\n\ndef tbptt_windows(streams, num_steps):\n"
               "    return list(getattr(tools, 'StreamWindows')(streams, num_steps))\n")
    result = verdict("char_lm.tbptt_windows", dict(answers(), tbptt_windows=library))
    assert not result.passed and "tbptt_windows uses `tools`, which line 1 of your answers binds to `import course_lib.data`" \
        in result.message


def test_forbidden_rule_follows_top_level_bindings():
    rule = ForbiddenRule(("torch.nn.LSTMCell",), "Write it yourself.")
    assert "binds to `nn.LSTMCell`" in rule.judge_sources(["from torch import nn\nA = nn.LSTMCell\nB = A\n",
                                                           "def helper():\n    return B\n",
                                                           "def step():\n    return helper()\n"], "step")
    assert rule.judge_sources(["A = nn.LSTMCell\n", "def step(x):\n    return x\n"], "step") == ""


def test_visible_cases_run_in_the_students_kernel():
    namespace = CHAR_LM.run(answers())
    assert CHECKS["char_lm.sample"].run_visible(namespace["sample"]) == \
        "sample: ids identical to the reference sampler (2 cases)"
    assert CHECKS["char_lm.char_rnn"].run_visible(namespace["CharRNN"]).startswith("CharRNN: parameter count")


# -- the student half has no reference implementation; the grader's check compares the logits --------------
def visible(replacements=None):
    """run_visible of the student half's CharRNN check on the solution's CharRNN with ``replacements``."""
    return CHECKS["char_lm.char_rnn"].run_visible(CHAR_LM.run(answers({"char_rnn": replacements} if replacements
                                                                      else None))["CharRNN"])


@pytest.mark.parametrize("replacement, message", [
    (("self.rnn(self.embedding(ids), state)", "self.rnn(self.embedding(ids))"),
     "logits of two halves, the state carried between them is wrong"),
    (("self.output(self.dropout(hidden))", "self.output(F.dropout(hidden, 0.1, training=True))"),
     "two runs on the same ids in eval mode gave different logits"),
    (("self.output = nn.Linear(hidden_size, vocab_size)", "self.output = nn.Linear(hidden_size, vocab_size, bias=False)"),
     "number of parameters: expected"),
    (("recurrent = {\"gru\": nn.GRU, \"lstm\": nn.LSTM}[cell]", "recurrent = nn.GRU"),
     "should be one nn.Embedding, one nn.LSTM (batch_first) and one nn.Linear"),
])
def test_the_visible_check_fails_a_wrong_model_with_its_message(replacement, message):
    with pytest.raises(CheckFailed, match=re.escape(message)):
        visible(replacement)


def test_the_logits_are_checked_by_the_grader_only():
    softmax = ("return self.output(self.dropout(hidden)), state",
               "return torch.softmax(self.output(self.dropout(hidden)), -1), state")
    assert visible(softmax).startswith("CharRNN: parameter count")  # nothing in the student half to compare with
    result = verdict("char_lm.char_rnn", answers({"char_rnn": softmax}))
    assert not result.passed and "logits against Embedding -> GRU -> Linear with your weights" in result.message
    graders = CHAR_LM.instructor["char_lm.char_rnn"]
    assert graders.visible_cases() == CHECKS["char_lm.char_rnn"].visible_cases()
    assert type(graders) is not type(CHECKS["char_lm.char_rnn"])
    assert not hasattr(char_lm_checks, "reference_logits")


def test_the_samplers_model_is_no_exercises_answer():
    model = char_lm_checks.fixed_model(0, dropout=0.5)
    kinds = {type(module) for module in model.modules()}
    assert not kinds & {nn.Embedding, nn.GRU, nn.LSTM} and nn.RNN in kinds
    ids = torch.tensor([[1, 2, 3]])
    model.eval()
    assert torch.equal(model(ids)[0], model(ids)[0])  # eval() switches its dropout off
