"""Crafted submissions of the baum_sweet chapter: the typical wrong answers (six, in three
submissions), the library shortcut through an alias, and a label that knows only the visible numbers.

Graded in one batch by test_adversarial_baum_sweet.py; each entry gives the exact points per cell.
"""

from checking import mutant
from crafting import Crafting, edit

BAUM_SWEET = Crafting("baum_sweet")
C, B = "correct", "blank"
expect = BAUM_SWEET.expect

LEADING_ZEROS = '''def baum_sweet_label(n):
    """The zeros in front of the leading 1 taken for a block: a fixed-width binary string."""
    return int(all(len(block) % 2 == 0 for block in format(n, "032b").split("1") if block))
'''
FINAL_BLOCK_IGNORED = '''def baum_sweet_label(n):
    """Read from the most significant bit; a block is judged only when a 1 closes it."""
    run = 0
    for bit in format(n, "b"):
        if bit == "1":
            if run % 2 == 1:
                return 0
            run = 0
        else:
            run += 1
    return 1
'''
LIBRARY_ALIAS = '''from course_lib.data.baum_sweet import baum_sweet as reference_label


def baum_sweet_label(n):
    return reference_label(n)
'''
LIBRARY_CODES = '''from course_lib.data.baum_sweet import encode_number as reference_codes


def encode(n, T):
    if n >= 2 ** (4 * T):
        raise ValueError("too large")
    return torch.tensor(reference_codes(n, T), dtype=torch.long)
'''
VISIBLE_ONLY = ('''def baum_sweet_label(n):
    """Right on every number the visible test shows, and 1 elsewhere."""
    known = dict(enumerate(%r))
    known.update({2**20: 1, 2**21: 0, 0b1001001: 1, 0b10010001: 0})
    return known.get(n, 1)
''' % [1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1])

RUN_OFF_BY_ONE = ("baum_sweet_label", "            run = 0\n", "            run = 1\n")
LSB_FIRST = ("encode", "for bit in bits]", "for bit in reversed(bits)]")
NO_OVERFLOW_ERROR = ("encode", "    if len(bits) > width:\n", "    if False:\n")
FIRST_POSITION = ("classifier", "outputs[:, -1]", "outputs[:, 0]")

BATCH = {
    "correct": (BAUM_SWEET.correct(), expect(C), "ok"),
    "blank": (BAUM_SWEET.blank(), expect(B), "ok"),
    # mistakes in different exercises share a submission; each costs only its own test cell:
    # the run of zeros measured with the 1 that closes it (an off-by-one), with the codes from the
    # wrong end (least significant bit first)
    "mutant_label_run_off_by_one_encode_lsb_first": (mutant(BAUM_SWEET, RUN_OFF_BY_ONE, LSB_FIRST),
                                                     expect(C, ["test_baum_sweet_label", "test_encode"]), "ok"),
    # the zeros in front of the leading 1 counted as a block, with no error for a number too large
    "mutant_label_leading_zeros_encode_no_overflow_error": (
        edit(mutant(BAUM_SWEET, NO_OVERFLOW_ERROR), "baum_sweet_label", source=LEADING_ZEROS),
        expect(C, ["test_baum_sweet_label", "test_encode"]), "ok"),
    # the final block of zeros never judged, with the logits of the first position
    "mutant_label_final_block_ignored_classifier_first_position": (
        edit(mutant(BAUM_SWEET, FIRST_POSITION), "baum_sweet_label", source=FINAL_BLOCK_IGNORED),
        expect(C, ["test_baum_sweet_label", "test_classifier"]), "ok"),
    # attacks: the library's label and codes through names bound in the answer cells; a lookup table
    "library_through_alias": (edit(edit(BAUM_SWEET.correct(), "baum_sweet_label", source=LIBRARY_ALIAS),
                                   "encode", source=LIBRARY_CODES),
                              expect(C, ["test_baum_sweet_label", "test_encode"]), "ok"),
    "visible_numbers_only": (edit(BAUM_SWEET.correct(), "baum_sweet_label", source=VISIBLE_ONLY),
                             expect(C, ["test_baum_sweet_label"]), "ok"),
}
