"""Crafted submissions of the grammars chapter: the typical wrong answers (seven, in four
submissions), and the library's validator through an alias and a regular expression.

Graded in one batch by test_adversarial_grammars.py; each entry gives the exact points per cell.
"""

from checking import mutant
from crafting import Crafting, edit

GRAMMARS = Crafting("grammars")
C, B = "correct", "blank"
expect = GRAMMARS.expect

STACK_NEVER_POPS = '''def is_dyck(text):
    """A stack of open brackets that a ")" checks but never pops."""
    stack = []
    for char in text:
        if char == "(":
            stack.append(char)
        elif char == ")":
            if not stack:
                return False
        else:
            return False
    return len(stack) == 0 and len(text) > 0
'''
VALIDATOR_ALIAS = '''validate = grammars.is_valid


def is_dyck(text):
    return validate("brackets", text)
'''
REGULAR_EXPRESSION = '''import re as patterns


def ndfa_accepts(text):
    return patterns.fullmatch(r"s((abc!)*(uvw!)*(klm!)*)s", text) is not None
'''

ACCEPTS_EMPTY = ("is_dyck", "return depth == 0 and len(text) > 0", "return depth == 0")
DEPTH_BELOW_ZERO = ("is_dyck", "            if depth < 0:", "            if False:")
ANY_ORDER = ("ndfa_accepts", '"uvw or later": {"u": "u", "k": "k", "s": "accept"}',
             '"uvw or later": {"a": "a", "u": "u", "k": "k", "s": "accept"}')
COUNTS_PADDING = ("lm_loss", ", ignore_index=PAD_ID)", ")")
NO_ZERO_GRAD = ("train_step", "    optimizer.zero_grad()\n", "")
IGNORES_END = ("valid_fraction", "if continuation and continuation[-1] == END_ID:", "if continuation:")

BATCH = {
    "correct": (GRAMMARS.correct(), expect(C), "ok"),
    "blank": (GRAMMARS.blank(), expect(B), "ok"),
    # validity checks that accept the empty string or a ")" before its "(" (with a loss that counts
    # padding: the step is still graded right, on the reference loss); words out of order accepted
    # (with a step that never clears the old gradients); a stack that never pops (with rows that
    # never wrote .end counted valid)
    "mutant_dyck_accepts_empty_loss_counts_padding": (mutant(GRAMMARS, ACCEPTS_EMPTY, COUNTS_PADDING),
                                                      expect(C, ["test_is_dyck", "test_lm_loss"]), "ok"),
    "mutant_dyck_depth_below_zero": (mutant(GRAMMARS, DEPTH_BELOW_ZERO), expect(C, ["test_is_dyck"]), "ok"),
    "mutant_ndfa_any_order_step_without_zero_grad": (mutant(GRAMMARS, ANY_ORDER, NO_ZERO_GRAD),
                                                     expect(C, ["test_ndfa_accepts", "test_train_step"]), "ok"),
    "mutant_dyck_stack_never_pops_fraction_ignores_end": (
        edit(mutant(GRAMMARS, IGNORES_END), "is_dyck", source=STACK_NEVER_POPS),
        expect(C, ["test_is_dyck", "test_valid_fraction"]), "ok"),
    # shortcuts judged on the source: the library's validator through an alias, a regular expression
    "library_validator_and_regex": (edit(edit(GRAMMARS.correct(), "is_dyck", source=VALIDATOR_ALIAS),
                                         "ndfa_accepts", source=REGULAR_EXPRESSION),
                                    expect(C, ["test_is_dyck", "test_ndfa_accepts"]), "ok"),
}
