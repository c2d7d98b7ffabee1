"""Crafted submissions of the gates chapter: the typical wrong answers, a library shortcut, an attack.

Graded in one batch by test_adversarial_gates.py; each entry gives the exact points per cell.
"""

from crafting import Crafting, edit

GATES = Crafting("gates")
C, B = "correct", "blank"
expect = GATES.expect

# the notebook's own record_gates (the course's LSTMCell) instead of the equations: ruled out on the source
RECORDED_GATES = '''def lstm_gates(lstm, x):
    """The gates the notebook's helper records, the cell state recovered from tanh(c)."""
    gates, _ = record_gates(lstm, x)
    gates["cell"] = torch.atanh(gates.pop("tanh(cell)"))
    return gates
'''
# the references and the visible check patched inside the sandbox: verdicts are computed in the grader
PATCH_REFERENCES = '''
import course_lib.cells
import course_lib.checks.gates as checks
course_lib.cells.unroll = lambda *args, **kwargs: (None, None, {})
checks.check_close = lambda *args, **kwargs: 0.0
for name in checks.CHECKS:
    checks.CHECKS[name].compare = lambda *args, **kwargs: None
'''
SATURATION = "return (saturated & real).sum(dim=(0, 1)).float() / real.sum()"

BATCH = {
    "correct": (GATES.correct(), expect(C), "ok"),
    "blank": (GATES.blank(), expect(B), "ok"),
    # typical wrong answers
    "mutant_gate_order_ifog": (GATES.replace_in("lstm_gates", "i, f, g, o = (x_projected[:, t] + h @ W_hh.T).split(H, dim=-1)",
                                                "i, f, o, g = (x_projected[:, t] + h @ W_hh.T).split(H, dim=-1)"),
                               expect(C, ["test_lstm_gates"]), "ok"),
    "mutant_tanh_c_as_cell": (GATES.replace_in("lstm_gates", "zip(steps, (i, f, g, o, c))", "zip(steps, (i, f, g, o, torch.tanh(c)))"),
                              expect(C, ["test_lstm_gates"]), "ok"),
    "mutant_one_bias": (GATES.replace_in("lstm_gates", "bias = lstm.bias_ih_l0 + lstm.bias_hh_l0", "bias = lstm.bias_ih_l0"),
                        expect(C, ["test_lstm_gates"]), "ok"),
    "mutant_saturation_over_padding": (GATES.replace_in("saturation_fraction", SATURATION,
                                                        "return saturated.float().mean(dim=(0, 1))"),
                                       expect(C, ["test_saturation_fraction"]), "ok"),
    "mutant_saturation_over_all_units": (GATES.replace_in("saturation_fraction", SATURATION,
                                                          "return (saturated & real).sum().float() / (real.sum() * activations.shape[2])"),
                                         expect(C, ["test_saturation_fraction"]), "ok"),
    # low and high ignored: the visible cases cannot tell (their values give the same count), hidden ones can
    "mutant_saturation_default_thresholds": (GATES.replace_in("saturation_fraction", "saturated = (activations > high) | (activations < low)",
                                                              "saturated = (activations > 0.9) | (activations < 0.1)"),
                                             expect(C, ["test_saturation_fraction"]), "ok"),
    # the notebook's library-backed helper as the answer; references patched in the sandbox
    "recorded_gates": (edit(GATES.correct(), "lstm_gates", source=RECORDED_GATES), expect(C, ["test_lstm_gates"]), "ok"),
    "patched_references": (edit(GATES.blank(), "lstm_gates", before=PATCH_REFERENCES), expect(B), "ok"),
}
