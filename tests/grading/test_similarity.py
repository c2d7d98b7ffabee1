"""Similar answers: crafted near-copies are reported, honest different answers and the template are not,
and the report cannot be turned against the person reading it."""

from __future__ import annotations

import csv

import nbformat

from course_lib.grading.similarity import fingerprints, normalised_tokens, similar_pairs, write_report

TEMPLATE = """def lstm_params(input_size, hidden_size, layers=1):
    # YOUR CODE HERE
    raise NotImplementedError()
"""

ORIGINAL = """def lstm_params(input_size, hidden_size, layers=1):
    total = 0
    for layer in range(layers):
        inputs = input_size if layer == 0 else hidden_size
        weights_ih = 4 * hidden_size * inputs
        weights_hh = 4 * hidden_size * hidden_size
        biases = 4 * hidden_size
        total += weights_ih + weights_hh + biases
    return total
"""

RENAMED = """def lstm_params(input_size, hidden_size, layers=1):
    # count every layer
    count = 0
    for k in range(layers):
        n_in = input_size if k == 0 else hidden_size   # the first layer reads the input
        w_x = 4 * hidden_size * n_in
        w_h = 4 * hidden_size * hidden_size
        b = 4 * hidden_size
        count += w_x + w_h + b
    return count
"""

REORDERED = """def lstm_params(input_size, hidden_size, layers=1):
    total = 0
    for layer in range(layers):
        biases = 4 * hidden_size
        weights_hh = 4 * hidden_size * hidden_size
        inputs = input_size if layer == 0 else hidden_size
        weights_ih = 4 * hidden_size * inputs
        total += weights_ih + weights_hh + biases
    return total
"""

HONEST_CLOSED_FORM = """def lstm_params(input_size, hidden_size, layers=1):
    gates = 4
    first = gates * (hidden_size * (input_size + hidden_size) + hidden_size)
    rest = gates * (hidden_size * 2 * hidden_size + hidden_size)
    return first + max(layers - 1, 0) * rest
"""

HONEST_TORCH = """import torch

def lstm_params(input_size, hidden_size, layers=1):
    model = torch.nn.LSTM(input_size, hidden_size, num_layers=layers, bias=True)
    own = sum(p.numel() for name, p in model.named_parameters() if "bias_hh" not in name)
    return own
"""

CLASS = {"ana": ORIGINAL, "ben": RENAMED, "chloe": REORDERED, "dev": HONEST_CLOSED_FORM, "eli": HONEST_TORCH,
         "fay": TEMPLATE, "gus": TEMPLATE}


def test_renaming_comments_and_spacing_do_not_change_the_tokens():
    assert normalised_tokens(ORIGINAL)[:8] == ["def", "V", "(", "V", ",", "V", ",", "V"]
    assert fingerprints(ORIGINAL) == fingerprints(RENAMED)


def test_near_copies_are_reported_and_honest_answers_and_the_template_are_not():
    pairs = similar_pairs("lstm_params", CLASS, TEMPLATE)
    assert {(p.first, p.second) for p in pairs} == {("ana", "ben"), ("ana", "chloe"), ("ben", "chloe")}
    assert [p.similarity for p in pairs if (p.first, p.second) == ("ana", "ben")] == [1.0]
    assert all(p.similarity >= 0.7 and p.shared >= 6 for p in pairs)


def test_without_excluding_the_template_two_blank_answers_would_be_flagged():
    assert {(p.first, p.second) for p in similar_pairs("q", {"fay": TEMPLATE, "gus": TEMPLATE})} <= {("fay", "gus")}
    assert similar_pairs("q", {"fay": TEMPLATE, "gus": TEMPLATE}, TEMPLATE) == []


def test_broken_and_huge_answers_are_read_safely():
    assert normalised_tokens('def f(:\n    s = """never closed') == ["def", "V", "(", ":", "V", "="]
    assert len(normalised_tokens("x = 1\n" * 100_000)) == 3 * 100_000 // 6  # capped at 100,000 characters
    assert fingerprints("") == set()


def test_the_report_shows_pairs_side_by_side_with_code_escaped(tmp_path):
    release = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        TEMPLATE, metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "lstm_params"}})])
    hostile = ORIGINAL.replace("total = 0", "total = 0  # </pre><script>alert(1)</script>")
    (tmp_path / "autograded").mkdir()
    for student, source in {"ana": hostile, "ben": RENAMED, "dev": HONEST_CLOSED_FORM}.items():
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            source, metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "lstm_params"}})])
        nbformat.write(notebook, tmp_path / "autograded" / f"{student}.ipynb")
    pairs = write_report(tmp_path, release)
    assert [(p.first, p.second) for p in pairs] == [("ana", "ben")]
    page = (tmp_path / "similarity" / "lstm_params.html").read_text()
    assert "<script>alert" not in page and "&lt;/pre&gt;&lt;script&gt;alert(1)" in page
    assert page.count("<pre>") == 2 and "script-src" not in page and "default-src 'none'" in page
    rows = list(csv.reader((tmp_path / "similarity" / "pairs.csv").open()))
    assert rows == [["question", "student", "other_student", "similarity", "shared_fingerprints"],
                    ["lstm_params", "ana", "ben", "1", rows[1][4]]]
    assert 'href="lstm_params.html"' in (tmp_path / "similarity" / "index.html").read_text()
