"""The baum_sweet chapter's checks without a sandbox: the solution passes every case, visible and
hidden; typical wrong answers fail with a message that says what is wrong; the library is ruled out."""

import pytest

from checking import assert_hostile_replies_fail, every_case, notebook, replaced
from course_lib.checks import find_check
from course_lib.grading.checks import CheckFailed
from crafting import Crafting

BAUM_SWEET = Crafting("baum_sweet")


SOLUTION = notebook(BAUM_SWEET)
OBJECTS = {"baum_sweet.baum_sweet_label": "baum_sweet_label", "baum_sweet.encode": "encode",
           "baum_sweet.classifier": "BaumSweetClassifier"}


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_the_solution_passes_visible_and_hidden_cases(name):
    every_case(name, SOLUTION[OBJECTS[name]])
    assert find_check(name).run_visible(SOLUTION[OBJECTS[name]])


STRING_LABEL = '''def baum_sweet_label(n):
    return int(all(len(block) % 2 == 0 for block in format(n, "b").split("1")))
'''
LIBRARY_ALIAS = '''from course_lib.data.baum_sweet import baum_sweet as library_label
def baum_sweet_label(n):
    return library_label(n)
'''


@pytest.mark.parametrize("namespace, message", [
    (lambda: replaced(BAUM_SWEET, "baum_sweet_label", "            run = 0\n", "            run = 1\n"),
     "baum_sweet_label(3) returned 0, expected 1: 3 is 11 in binary, its blocks of zeros have lengths none."),
    (lambda: notebook(BAUM_SWEET, baum_sweet_label=STRING_LABEL),
     "baum_sweet_label(0) returned 0, expected 1: 0 is 0 in binary, its blocks of zeros have lengths [1]"),
])
def test_wrong_labels_are_explained(namespace, message):
    with pytest.raises(CheckFailed) as failure:
        find_check("baum_sweet.baum_sweet_label").run_visible(namespace()["baum_sweet_label"])
    assert message in str(failure.value)


def test_the_library_is_ruled_out_even_through_an_alias_bound_in_the_answer_cell():
    # the grader judges every answer cell; a kernel can only read the function's own code
    rule = find_check("baum_sweet.baum_sweet_label").rule
    assert rule.judge_sources([LIBRARY_ALIAS], "baum_sweet_label") == (
        "baum_sweet_label uses `library_label`, which line 1 of your answers binds to "
        "`import course_lib.data.baum_sweet.baum_sweet`; this exercise rules that out. "
        "Write it from the definition, with string or integer operations.")
    direct = "def encode(n, T):\n    return torch.tensor(course_lib.data.baum_sweet.encode_number(n, T))\n"
    assert "encode uses `course_lib.data.baum_sweet.encode_number`" in \
        find_check("baum_sweet.encode").rule.judge_sources([direct], "encode")


@pytest.mark.parametrize("old, new, message", [
    ('for bit in bits]', 'for bit in reversed(bits)]',
     "encode(10, 4) (10 = 1010 in binary): expected [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2, 1], "
     "got [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 1, 2]."),
    ("[0] * (width - len(bits)) + [2 if bit == \"1\" else 1 for bit in bits]",
     "[2 if bit == \"1\" else 1 for bit in bits] + [0] * (width - len(bits))", "encode(10, 4) (10 = 1010 in binary)"),
    ("dtype=torch.long", "dtype=torch.int32", "encode(10, 4) has dtype torch.int32; use torch.long"),
    ("        raise ValueError", "        return None\n        raise ValueError",
     "encode(65536, 4) should raise ValueError: 65536 needs 17 bits, more than 4T = 16; it returned."),
])
def test_wrong_codes_are_explained(old, new, message):
    with pytest.raises(CheckFailed) as failure:
        find_check("baum_sweet.encode").run_visible(replaced(BAUM_SWEET, "encode", old, new)["encode"])
    assert message in str(failure.value)


@pytest.mark.parametrize("old, new, message", [
    ("outputs[:, -1]", "outputs[:, 0]", "lstm: the logits come from the FIRST position"),
    ("batch_first=True", "batch_first=False", "lstm: rnn.batch_first: expected True, got False."),
    ("nn.LSTM if kind == \"lstm\" else nn.GRU", "nn.GRU if kind == \"lstm\" else nn.LSTM",
     'BaumSweetClassifier("lstm", 5).rnn should be an nn.LSTM; got GRU.'),
    ("x = F.one_hot(codes, num_classes=3).float()", "x = F.one_hot(codes.flip(1), num_classes=3).float()",
     "lstm logits (the head applied to the output at the last position) is wrong"),
])
def test_wrong_classifiers_are_explained(old, new, message):
    with pytest.raises(CheckFailed) as failure:
        wrong = replaced(BAUM_SWEET, "classifier", old, new)["BaumSweetClassifier"]
        find_check("baum_sweet.classifier").run_visible(wrong)
    assert message in str(failure.value)


def test_a_label_right_only_on_the_visible_numbers_fails_a_hidden_case():
    visible = {**dict(enumerate([1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1,
                                 0, 0, 1, 0, 0, 1])), 2**20: 1, 2**21: 0, 0b1001001: 1, 0b10010001: 0}
    lookup = notebook(BAUM_SWEET, baum_sweet_label=f"def baum_sweet_label(n):\n    return {visible!r}.get(n, 1)\n")
    find_check("baum_sweet.baum_sweet_label").run_visible(lookup["baum_sweet_label"])
    with pytest.raises(CheckFailed):
        every_case("baum_sweet.baum_sweet_label", lookup["baum_sweet_label"])


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_hostile_replies_fail_with_a_message(name):
    assert_hostile_replies_fail(name)
