"""The grammars chapter, instructor half: hidden strings judged by the library's validators, other
languages, sizes and seeds."""

import numpy as np

from course_lib.checks.grammars import fraction_case, loss_case, step_case, strings_case
from course_lib.data import grammars


def corrupt(text, rng):
    """Flip, delete or insert one character."""
    position = int(rng.integers(len(text) + 1))
    kind = rng.integers(3) if text else 2
    if kind == 0 and position < len(text):
        return text[:position] + ("(" if text[position] == ")" else ")") + text[position + 1:]
    if kind == 1 and position < len(text):
        return text[:position] + text[position + 1:]
    return text[:position] + "()x"[int(rng.integers(3))] + text[position:]


def _brackets():
    """Generated words, concatenations of two, one deep word, and each of them corrupted once."""
    rng = np.random.default_rng(909)
    words = ["".join(w) for w in grammars.generate("brackets", 150, seed=909)]
    words += [words[i] + words[i + 1] for i in range(0, 40, 2)] + ["(" * 60 + ")" * 60]
    cases = [(w, True) for w in words]
    for w in words:
        bad = corrupt(w, rng)
        cases.append((bad, grammars.is_valid("brackets", bad)))
    return [strings_case(cases)]


def _ndfa():
    """Words in every order, some cut or spliced, and generated sentences."""
    rng = np.random.default_rng(919)
    words = ("abc!", "uvw!", "klm!")
    cases = []
    for _ in range(300):
        middle = "".join(words[int(i)] for i in rng.integers(3, size=int(rng.integers(0, 7))))
        text = "s" + middle + "s"
        if rng.random() < 0.3:  # cut or splice somewhere
            position = int(rng.integers(len(text) + 1))
            text = text[:position] + "sabcuvwklm!x"[int(rng.integers(12))] + text[position + 1:]
        cases.append((text, grammars.NDFA_REGEX.fullmatch(text) is not None))
    cases += [("".join(sentence), True) for sentence in grammars.generate("ndfa", 50, seed=919)]
    return [strings_case(cases)]


HIDDEN = {
    "grammars.is_dyck": _brackets(),
    "grammars.ndfa_accepts": _ndfa(),
    "grammars.lm_loss": [loss_case("ndfa", 6, 5, 3, seed=91), loss_case("english", 4, 6, 8, seed=92),
                         loss_case("brackets", 1, 3, 4, seed=93)],
    "grammars.train_step": [step_case("ndfa", 0.2, seed=95), step_case("english", 1e6, seed=96)],
    "grammars.valid_fraction": [
        fraction_case("ndfa", [("", "sabc!s", True), ("s", "uvw!uvw!s", True), ("sabc!", "abc!", False),
                               ("s", "uvw!abc!s", True), ("", "ss", True), ("sklm!", "kl", True)], 3 / 6),
        fraction_case("english", [([], "the cat slept".split(), True), ("the dog".split(), "ran quickly".split(), True),
                                  ([], "the cat".split(), True), ([], "the cat slept".split(), False)], 2 / 4),
    ],
}
