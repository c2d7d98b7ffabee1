"""Answers suspiciously alike: per code answer cell, the pairs of submissions whose code shares most of
its fingerprints, the release's stub excluded, shown side by side.

The method is MOSS's (Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document
fingerprinting", SIGMOD 2003), on tokens from Python's own ``tokenize`` module:

1. **Normalise.** Each answer is tokenised; comments, blank lines and indentation-only tokens are
   dropped, every identifier becomes ``V`` (keywords stay), every string ``S``. Renaming variables,
   editing comments or re-spacing changes nothing; numbers and operators stay as they are.
2. **Fingerprint.** Hashes of every run of :data:`K` tokens, and of those, the smallest in every
   window of :data:`WINDOW` consecutive hashes (winnowing): a set of fingerprints that does not
   depend on where code sits, so reordered statements keep theirs.
3. **Exclude the template.** Fingerprints of the release's stub of that cell (what every student
   was given) are removed, and so are fingerprints more than half of the class shares (the
   obvious way to write a line: "common code", MOSS's ``-m``).
4. **Compare.** An inverted index (fingerprint -> students) finds the pairs that share anything
   without comparing every pair; a pair is reported when the shared fingerprints cover at least
   :data:`THRESHOLD` of the smaller answer and there are at least :data:`MIN_SHARED` of them (short
   answers are alike by necessity).

Why this and not ``difflib``: difflib compares two texts in quadratic time and is thrown off by
renaming and reordering; winnowed token fingerprints are robust to both, compare a class of 3,000
through the index, and are what the plagiarism detectors courses use (MOSS, JPlag's idea of
normalised tokens). The report flags pairs for a person to look at; it decides nothing.

Answers are untrusted text: each is capped at :data:`MAX_CHARS` characters, a tokenising error
ends that answer's tokens (its fingerprints so far count), and the page shows code escaped in
``<pre>`` blocks with a Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import keyword
import tokenize
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import nbformat

K = 5             # tokens per fingerprinted run
WINDOW = 4        # winnowing window (hashes)
THRESHOLD = 0.7   # shared fingerprints / fingerprints of the smaller answer
MIN_SHARED = 6    # fewer shared fingerprints is never reported
COMMON = 0.5      # fingerprints in more than this share of answers are common code
MAX_CHARS = 100_000

_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
         tokenize.ENCODING, tokenize.ENDMARKER}


def normalised_tokens(source: str) -> list[str]:
    """The answer's tokens with identifiers as ``V`` and strings as ``S`` (see the module docstring)."""
    tokens = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source[:MAX_CHARS]).readline):
            if token.type in _SKIP:
                continue
            if token.type == tokenize.NAME:
                tokens.append(token.string if keyword.iskeyword(token.string) else "V")
            elif token.type == tokenize.STRING or tokenize.tok_name.get(token.type, "").startswith("FSTRING"):
                tokens.append("S")
            else:
                tokens.append(token.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # unfinished code: what was read so far counts
    return tokens


def fingerprints(source: str) -> set[int]:
    """The winnowed fingerprints of an answer."""
    tokens = normalised_tokens(source)
    hashes = [int.from_bytes(hashlib.blake2b(" ".join(tokens[i:i + K]).encode(), digest_size=8).digest(), "big")
              for i in range(len(tokens) - K + 1)]
    if len(hashes) <= WINDOW:
        return set(hashes)
    return {min(hashes[i:i + WINDOW]) for i in range(len(hashes) - WINDOW + 1)}


@dataclass
class Pair:
    question: str
    first: str
    second: str
    similarity: float  # shared / fingerprints of the smaller answer
    shared: int


def similar_pairs(question: str, answers: dict[str, str], template: str = "") -> list[Pair]:
    """Pairs of ``{student: source}`` suspiciously alike, most alike first."""
    excluded = fingerprints(template) if template.strip() else set()
    prints = {student: fingerprints(source) - excluded for student, source in answers.items()}
    index: dict[int, list[str]] = {}
    for student, found in prints.items():
        for fingerprint in found:
            index.setdefault(fingerprint, []).append(student)
    common = max(2, int(COMMON * len(prints)))
    shared: dict[tuple[str, str], int] = {}
    for holders in index.values():
        if len(holders) > common and len(prints) > 3:
            continue  # the obvious way to write it: most of the class has it
        for pair in combinations(sorted(holders), 2):
            shared[pair] = shared.get(pair, 0) + 1
    pairs = []
    for (first, second), count in shared.items():
        smaller = min(len(prints[first]), len(prints[second]))
        if count >= MIN_SHARED and smaller and count / smaller >= THRESHOLD:
            pairs.append(Pair(question, first, second, round(count / smaller, 3), count))
    return sorted(pairs, key=lambda p: (-p.similarity, p.first, p.second))


def _code_answers(release: nbformat.NotebookNode) -> dict[str, str]:
    """``{grade_id: the release's stub}`` of the code answer cells."""
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in release.cells
            if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def _answers(output_dir: Path, questions: set[str]) -> dict[str, dict[str, str]]:
    answers: dict[str, dict[str, str]] = {q: {} for q in questions}
    for path in sorted((Path(output_dir) / "autograded").glob("*.ipynb")):
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception:
            continue
        for cell in notebook.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in questions and cell.cell_type == "code":
                answers[grade_id][path.stem] = cell.source
    return answers


PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{{font-family:sans-serif;margin:1em}} .pair{{display:grid;grid-template-columns:1fr 1fr;gap:1em;margin-bottom:2em}}
pre{{background:#f6f6f6;padding:.5em;overflow-x:auto;white-space:pre-wrap}} h2{{font-size:1.1em}}</style></head>
<body><h1>{title}</h1><p>{intro}</p>{body}</body></html>
"""


def write_report(output_dir: Path, release: nbformat.NotebookNode) -> list[Pair]:
    """``similarity/index.html``, one ``similarity/<grade_id>.html`` per code answer cell with pairs
    side by side, and ``similarity/pairs.csv``; returns every pair."""
    output_dir = Path(output_dir)
    stubs = _code_answers(release)
    answers = _answers(output_dir, set(stubs))
    folder = output_dir / "similarity"
    folder.mkdir(exist_ok=True)
    every, links = [], []
    intro = (f"Pairs whose code shares at least {THRESHOLD:.0%} of the smaller answer's fingerprints (winnowed "
             f"{K}-token runs, identifiers renamed, the release's stub and code most of the class shares "
             "excluded). A reason to look, not a verdict.")
    for question, stub in stubs.items():
        pairs = similar_pairs(question, answers[question], stub)
        every += pairs
        body = "".join(
            f"<h2>{html.escape(p.first)} and {html.escape(p.second)}: {p.similarity:.0%} "
            f"({p.shared} shared fingerprints)</h2><div class=\"pair\">"
            f"<pre>{html.escape(answers[question][p.first])}</pre><pre>{html.escape(answers[question][p.second])}</pre></div>"
            for p in pairs) or "<p>No pair is alike enough to report.</p>"
        (folder / f"{question}.html").write_text(
            PAGE.format(title=html.escape(f"Similar answers: {question}"), intro=intro, body=body), encoding="utf-8")
        links.append(f'<li><a href="{html.escape(question)}.html">{html.escape(question)}</a>: {len(pairs)} pair(s) '
                     f"among {len(answers[question])} answers</li>")
    (folder / "index.html").write_text(PAGE.format(title="Similar answers", intro=intro,
                                                   body="<ul>" + "".join(links) + "</ul>"), encoding="utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["question", "student", "other_student", "similarity", "shared_fingerprints"])
    writer.writerows([p.question, p.first, p.second, f"{p.similarity:g}", p.shared] for p in every)
    (folder / "pairs.csv").write_text(buffer.getvalue())
    return every
