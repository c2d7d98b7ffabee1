"""The gates chapter, instructor half: the reference saturation_fraction and the hidden cases."""

from course_lib.checks.base import Case
from course_lib.checks.gates import build_checks, tiny_model_cases


def reference_saturation(activations, mask, low=0.1, high=0.9):
    """Per unit, the fraction of the real (b, t) whose activation is > high or < low."""
    real = activations[mask]  # (N, H): the real steps only
    return ((real > high) | (real < low)).double().mean(dim=0)


CHECKS = build_checks(reference_saturation)

HIDDEN = {
    "gates.lstm_gates": [Case((7, 5, 3, 11, 501)), Case((1, 9, 1, 2, 502))],
    "gates.saturation_fraction": [case for seed, lengths in ((503, (6, 2, 9)), (504, (1,)), (505, (4, 4)))
                                  for case in tiny_model_cases(seed, thresholds=({}, {"low": 0.3, "high": 0.8}),
                                                               I=2, H=6, lengths=lengths)],
}
