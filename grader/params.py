"""Hidden cases of the params chapter: other sizes and seeds than the visible ones."""

import random


from course_lib.checks.base import Case
from course_lib.checks.params import recurrent_cases, sentiment_case


def random_sizes(seed, count, largest=60):
    rng = random.Random(seed)
    return [(rng.randint(1, largest), rng.randint(1, largest), rng.randint(1, 3)) for _ in range(count)]


def _linear():
    rng = random.Random(201)
    return [Case((rng.randint(1, 500), rng.randint(1, 500)), {"bias": rng.random() < 0.5}) for _ in range(10)]


def _conv2d():
    rng = random.Random(202)
    cases = []
    for _ in range(12):
        k = rng.choice([1, 2, 3, 5, 7, (1, 3), (5, 2), (3, 7)])
        args, kwargs = (rng.randint(1, 64), rng.randint(1, 64), k), {"bias": rng.random() < 0.5}
        cases.append(Case(args, kwargs, context={"stride": rng.randint(1, 4), "padding": rng.randint(0, 3)}))
    return cases


def _conv_output_size():
    rng = random.Random(212)
    cases = []
    for _ in range(30):
        k, s, p = rng.randint(1, 7), rng.randint(1, 4), rng.randint(0, 3)
        cases.append(Case((rng.randint(max(1, k - 2 * p), 400), k, s, p)))
    return cases


def _activation_shapes():
    rng = random.Random(213)
    return [Case(((rng.randint(1, 4), rng.randint(1, 300), rng.randint(1, 300)),
                  [rng.randint(1, 16) for _ in range(rng.randint(1, 4))]),
                 {"kernel_size": rng.choice([1, 3, 5, 7]), "stride": rng.randint(1, 3)}) for _ in range(12)]


def _with_output():
    rng = random.Random(208)
    return [Case((rng.randint(1, 80), rng.randint(1, 80), rng.randint(1, 80))) for _ in range(8)]


def _stacked_conv():
    rng = random.Random(211)
    return [Case((rng.randint(1, 8), [rng.randint(1, 40) for _ in range(rng.randint(1, 4))]),
                 {"kernel_size": rng.choice([1, 3, 5])}) for _ in range(8)]


def _sentiment_params():
    rng = random.Random(216)
    return [Case((rng.randint(2, 3_000), rng.randint(1, 64), rng.randint(1, 64), rng.randint(2, 10)),
                 {"num_biases": rng.choice([0, 1, 2])}) for _ in range(8)]


HIDDEN = {
    "params.linear_params": _linear(),
    "params.conv2d_params": _conv2d(),
    "params.elman_params": recurrent_cases(random_sizes(203, 6)),
    "params.lstm_params": recurrent_cases(random_sizes(204, 6)),
    "params.gru_params": recurrent_cases(random_sizes(205, 6)),
    "params.coupled_lstm_params": recurrent_cases(random_sizes(206, 8)),
    "params.peephole_lstm_params": [c for kind in ("full", "diagonal")
                                    for c in recurrent_cases(random_sizes(207, 6), peephole=kind)],
    "params.lstm_with_output_params": _with_output(),
    "params.torch_lstm_extra": [Case((I, H), {"num_layers": L}) for I, H, L in random_sizes(210, 8)],
    "params.stacked_conv_params": _stacked_conv(),
    "params.conv_output_size": _conv_output_size(),
    "params.same_activation_shapes": _activation_shapes(),
    "params.sentiment_model": [sentiment_case(50, 6, 9, 5, B=3, T=11, seed=214),
                               sentiment_case(1_000, 32, 17, 3, B=2, T=1, seed=215)],
    "params.sentiment_params": _sentiment_params(),
}
