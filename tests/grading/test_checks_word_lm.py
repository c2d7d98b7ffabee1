"""The word_lm chapter's checks without a sandbox: the solution passes every case, visible and hidden;
typical wrong answers fail the right exercise with a message that names the mistake."""

import pytest

from course_lib.checks.word_lm import CHECKS
from local_checks import LocalChapter

WORD_LM = LocalChapter("word_lm")
answers, verdict = WORD_LM.edited, WORD_LM.verdict


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_solution_passes_every_case(name):
    result = verdict(name, answers())
    assert result.passed, result.message


@pytest.mark.parametrize("name, replacements, message", [
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
])
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
