"""Crafted submissions of the cells chapter: typical wrong answers, from-scratch shortcuts, attacks.

Graded in one batch by test_adversarial_cells.py; each entry gives the exact points per cell.
"""

from crafting import Crafting, edit

CELLS = Crafting("cells")
C, B = "correct", "blank"
expect = CELLS.expect

LIBRARY_UNROLL = '''def unroll(cell, x, lengths=None, state=None):
    """The library's loop, called instead of written."""
    return library_cells.unroll(cell.cell, x, lengths, state)
'''
FUSED_LSTM = '''class LSTMCell(Cell):
    num_gates = 4
    has_cell_state = True

    def forward(self, x, state):
        return torch.lstm_cell(x, state, self.weight_ih, self.weight_hh, self.bias, None)
'''
PATCH_REFERENCES = '''
import torch
torch.nn.LSTMCell.forward = lambda self, x, state=None: state
torch.nn.GRUCell.forward = lambda self, x, h=None: h
import course_lib.checks.cells as checks
checks.close = lambda *a, **k: True
checks.check_close = lambda *a, **k: 0.0
for name in checks.CHECKS:
    checks.CHECKS[name].compare = lambda *a, **k: None
'''
LSTM_ALL = ["test_lstm_cell", "test_lstm_gradcheck"]
GRU_ALL = ["test_gru_reset_after", "test_gru_textbook"]
UNROLL_ALL = ["test_unroll_lstm", "test_unroll_padding"]

BATCH = {
    "correct": (CELLS.correct(), expect(C), "ok"),
    "blank": (CELLS.blank(), expect(B), "ok"),
    # typical wrong answers
    "mutant_lstm_gate_order_ifog": (CELLS.replace_in("lstm_cell", "i, f, g, o = gates.chunk(4, dim=1)",
                                                     "i, f, o, g = gates.chunk(4, dim=1)"),
                                    expect(C, ["test_lstm_cell"]), "ok"),
    "mutant_lstm_detached_state": (CELLS.replace_in("lstm_cell", "c = f * c + i * g", "c = f * c.detach() + i * g"),
                                   expect(C, ["test_lstm_gradcheck"]), "ok"),
    "mutant_gru_z_swapped": (CELLS.replace_in("gru_cell", "return (1 - z) * g + z * h", "return z * g + (1 - z) * h"),
                             expect(C, GRU_ALL), "ok"),
    "mutant_gru_always_reset_after": (CELLS.replace_in("gru_cell", "if self.reset_after:", "if True:"),
                                      expect(C, ["test_gru_textbook"]), "ok"),
    "mutant_peephole_o_reads_old_c": (CELLS.replace_in("peephole_cell", "o = torch.sigmoid(o + peep(P_o, c))",
                                                       "o = torch.sigmoid(o + peep(P_o, c_prev))"),
                                      expect(C, ["test_peephole"]), "ok"),
    "mutant_coupled_i_is_f": (CELLS.replace_in("coupled_cell", "c = f * c + (1 - f) * g", "c = f * c + f * g"),
                              expect(C, ["test_coupled"]), "ok"),
    "mutant_unroll_ignores_lengths": (CELLS.replace_in("unroll", "real = every_step if lengths is None else "
                                                       "(t < lengths.to(x.device))[:, None]", "real = every_step"),
                                      expect(C, ["test_unroll_padding"]), "ok"),
    # from-scratch rules, judged on the source
    "fused_lstm_kernel": (edit(CELLS.correct(), "lstm_cell", source=FUSED_LSTM), expect(C, LSTM_ALL), "ok"),
    "library_unroll": (edit(CELLS.correct(), "unroll", source=LIBRARY_UNROLL), expect(C, UNROLL_ALL), "ok"),
    # attacks: patched references inside the sandbox change nothing; a crash loses one exercise
    "patched_references": (edit(CELLS.blank(), "lstm_cell", before=PATCH_REFERENCES), expect(B), "ok"),
    "segfault_in_gru": (edit(CELLS.correct(), "gru_cell", before="import faulthandler\nfaulthandler._sigsegv()\n"),
                        expect(C, GRU_ALL), "kernel crashed"),
}
