"""Crafted submissions of the bptt chapter: the typical wrong answers and autograd shortcuts.

Graded in one batch by test_adversarial_bptt.py; each entry gives the exact points per cell.
"""

from crafting import Crafting, edit

BPTT = Crafting("bptt")
C, B = "correct", "blank"
expect = BPTT.expect

AUTOGRAD_BACKWARD = '''def rnn_backward(x, y, h0, params, hs, probs):
    """Gradients by autograd: the shortcut the exercise rules out."""
    leaves = {name: value.clone().requires_grad_() for name, value in params.items()}
    leaves["h0"] = h0.clone().requires_grad_()
    loss = rnn_forward(x, y, leaves["h0"], leaves)[2]
    loss.backward()
    return {name: leaf.grad for name, leaf in leaves.items()}
'''
BACKWARD = ["test_rnn_backward_output_layer", "test_rnn_backward_recurrent"]

BATCH = {
    "correct": (BPTT.correct(), expect(C), "ok"),
    "blank": (BPTT.blank(), expect(B), "ok"),
    # BPTT without the recurrent term: only the output layer's gradients survive
    "mutant_no_recurrent_term": (BPTT.replace_in("rnn_backward", 'dh = do @ params["W_ph"] + da_next @ params["W_hh"]',
                                                 'dh = do @ params["W_ph"]'),
                                 expect(C, ["test_rnn_backward_recurrent"]), "ok"),
    "mutant_mean_loss": (BPTT.replace_in("rnn_forward", "return torch.stack(hs, dim=1), torch.stack(probs, dim=1), loss",
                                         "return torch.stack(hs, dim=1), torch.stack(probs, dim=1), loss / (B * T)"),
                         expect(C, ["test_rnn_forward"]), "ok"),
    "mutant_reset_path_without_W_hg": (BPTT.replace_in("gru_step2_grads", 'dr = dg * W["W_hg"] * h1', "dr = dg * h1"),
                                       expect(C, ["test_gru_reset"]), "ok"),
    "mutant_norm_of_whole_state": (BPTT.replace_in("jacobian_norms", "matrix_norm(product[:H], ord=2)",
                                                   "matrix_norm(product, ord=2)"),
                                   expect(C, ["test_jacobian_norms"]), "ok"),
    "autograd_backward": (edit(BPTT.correct(), "rnn_backward", source=AUTOGRAD_BACKWARD), expect(C, BACKWARD), "ok"),
}
