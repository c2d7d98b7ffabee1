"""The grammars chapter's checks without a sandbox: the solution passes every case, visible and
hidden; typical wrong answers fail with a message that says what is wrong; shortcuts are ruled out."""

import pytest

from adversarial_grammars import STACK_NEVER_POPS
from checking import assert_hostile_replies_fail, every_case, notebook, replaced
from course_lib.checks import find_check
from course_lib.grading.checks import CheckFailed
from crafting import Crafting

GRAMMARS = Crafting("grammars")
SOLUTION = notebook(GRAMMARS)
OBJECTS = {"grammars.is_dyck": "is_dyck", "grammars.ndfa_accepts": "ndfa_accepts", "grammars.lm_loss": "lm_loss",
           "grammars.train_step": "train_step", "grammars.valid_fraction": "valid_fraction"}


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_the_solution_passes_visible_and_hidden_cases(name):
    every_case(name, SOLUTION[OBJECTS[name]])
    assert find_check(name).run_visible(SOLUTION[OBJECTS[name]])


def failure_of(name, namespace):
    with pytest.raises(CheckFailed) as failure:
        find_check(name).run_visible(namespace[OBJECTS[name]])
    return str(failure.value)


@pytest.mark.parametrize("namespace, message", [
    (lambda: replaced(GRAMMARS, "is_dyck", "return depth == 0 and len(text) > 0", "return depth == 0"),
     "is_dyck('') returned True, expected False."),
    (lambda: replaced(GRAMMARS, "is_dyck", "            if depth < 0:", "            if False:"),
     "is_dyck(')(') returned True, expected False."),
    (lambda: notebook(GRAMMARS, is_dyck=STACK_NEVER_POPS), "is_dyck('()') returned False, expected True."),
    (lambda: replaced(GRAMMARS, "is_dyck", "return depth == 0 and len(text) > 0",
                      "return int(depth == 0 and len(text) > 0)"), "is_dyck('()') returned 1; return True or False."),
])
def test_wrong_recognisers_are_explained(namespace, message):
    assert message in failure_of("grammars.is_dyck", namespace())


def test_the_validators_and_regular_expressions_are_ruled_out_on_the_source():
    dyck = find_check("grammars.is_dyck").rule
    assert dyck.judge_sources(["def is_dyck(text):\n    return getattr(grammars, 'is_valid')('brackets', text)\n"],
                              "is_dyck") == ("is_dyck uses `grammars`, which this exercise rules out. It calls the "
                                             "course library's validator; write the counter yourself.")
    alias = "check = grammars.is_valid\n\n\ndef is_dyck(text):\n    return check('brackets', text)\n"
    assert "is_dyck uses `check`, which line 1 of your answers binds to `grammars.is_valid`" in \
        dyck.judge_sources([alias], "is_dyck")
    automaton = find_check("grammars.ndfa_accepts").rule
    regex = "import re\n\n\ndef ndfa_accepts(text):\n    return bool(re.fullmatch('s((abc!)*(uvw!)*(klm!)*)s', text))\n"
    assert "ndfa_accepts uses `re.fullmatch`, which this exercise rules out." in \
        automaton.judge_sources([regex], "ndfa_accepts")
    aliased = "import re as patterns\n\n\ndef ndfa_accepts(text):\n    return bool(patterns.fullmatch('s(abc!)*s', text))"
    assert "ndfa_accepts uses `patterns`, which line 1 of your answers binds to `import re`" in \
        automaton.judge_sources([aliased], "ndfa_accepts")
    assert automaton.judge_sources([GRAMMARS.answers["ndfa_accepts"]], "ndfa_accepts") == ""


def test_words_out_of_order_are_caught():
    wrong = replaced(GRAMMARS, "ndfa_accepts", '"uvw or later": {"u": "u", "k": "k", "s": "accept"}',
                     '"uvw or later": {"a": "a", "u": "u", "k": "k", "s": "accept"}')
    assert "ndfa_accepts('suvw!abc!s') returned True, expected False." in failure_of("grammars.ndfa_accepts", wrong)


@pytest.mark.parametrize("old, new, message", [
    (", ignore_index=PAD_ID)", ")", "lm_loss = 1.71679 is the mean over ALL targets, .pad included (expected 1.96786)"),
    ("inputs, targets = ids[:, :-1], ids[:, 1:]", "inputs, targets = ids[:, :-1], ids[:, :-1]",
     "lm_loss on 5 brackets sentences is wrong"),
    ("ignore_index=PAD_ID)", "ignore_index=PAD_ID).detach()",
     "lm_loss returned a tensor without a graph: do not call .item() or .detach() on it."),
])
def test_wrong_losses_are_explained(old, new, message):
    assert message in failure_of("grammars.lm_loss", replaced(GRAMMARS, "lm_loss", old, new))


@pytest.mark.parametrize("old, new, message", [
    ("    optimizer.zero_grad()\n", "", "the first step was right, the second not: its gradient norm is"),
    ("    optimizer.step()\n",  # the norm measured again after clipping: the clipped norm is returned
     "    optimizer.step()\n    grad_norm = nn.utils.clip_grad_norm_(model.parameters(), clip_norm)\n",
     "step 1: the gradient norm train_step returned (before clipping) is wrong"),
    ("return loss.item(), float(grad_norm)", "return loss.item()",
     "train_step should return the tuple (loss, grad_norm); got"),
])
def test_wrong_steps_are_explained(old, new, message):
    assert message in failure_of("grammars.train_step", replaced(GRAMMARS, "train_step", old, new))


def test_the_step_is_graded_with_the_reference_loss_not_the_students():
    # a wrong lm_loss costs the loss exercise, not the step: the check swaps in the reference
    namespace = replaced(GRAMMARS, "lm_loss", ", ignore_index=PAD_ID)", ")")
    theirs = namespace["lm_loss"]
    find_check("grammars.train_step").run_visible(namespace["train_step"])
    assert namespace["lm_loss"] is theirs  # put back after the check


@pytest.mark.parametrize("old, new, message", [
    ("if continuation and continuation[-1] == END_ID:", "if continuation:",
     "valid_fraction = 0.600 counts rows that never wrote .end (expected 0.400)"),
    ("[list(prompt) + list(continuation)]", "[[START_ID] + list(continuation)]",
     "valid_fraction on 5 brackets rows is wrong"),
])
def test_wrong_fractions_are_explained(old, new, message):
    assert message in failure_of("grammars.valid_fraction", replaced(GRAMMARS, "valid_fraction", old, new))


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_hostile_replies_fail_with_a_message(name):
    assert_hostile_replies_fail(name)
