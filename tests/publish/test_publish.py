"""`course publish`: the student release holds no answers and builds its book; instructor commands act
on the course folder they run in."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

from course_lib import book, cli
from course_lib.checks import find_check
from course_lib.course_root import CourseNotFoundError, find_course
from course_lib.grading.setup_cell import TAG, is_setup_cell
from course_lib.publish import PublishError, course_files, decide, publish, release_target

REPO = find_course(__file__)  # the checkout these tests belong to
TARGET = release_target(REPO)
INSTRUCTOR = "https://github.com/rnn-course/rnn-course"
SHIPPED_TOP = {".gitignore", "README.md", "_config.yml", "_toc.yml", "_static", "book", "course_lib", "notebooks",
               "pyproject.toml", "requirements.txt"}
#: Library modules that hold lines of a solution body, on purpose: the course's own cells, parameter
#: formulas and padding, which later chapters build on. The library version of an exercise is not an
#: answer a student can hand in: each exercise it overlaps has a from-scratch rule refusing it (see
#: test_every_known_library_overlap_is_refused_by_a_rule). A NEW overlap fails the test below.
KNOWN_LIBRARY_OVERLAPS = {
    # bptt's jacobian_norms, sentiment and gates build on the cells; refused by cells' and gates' FROM_SCRATCH
    "course_lib/cells.py": {"cells", "gates"},   # the LSTM's gate nonlinearities, the unroll loop
    # sentiment reports its models' sizes with these; params' FormulaRule allows arithmetic only
    "course_lib/params.py": {"params"},          # parameter-count formulas (linear, conv2d)
    # gates and sentiment's later parts batch reviews with it; sentiment.collate's rule refuses it
    "course_lib/data/imdb.py": {"sentiment"},    # collate_padded
}
#: word_lm's notebook gives students the language model that char_lm asks them to write: it ships only
#: once the toc lists word_lm, after char_lm (the README: release word_lm after char_lm's deadline).
KNOWN_NOTEBOOK_OVERLAPS = {"notebooks/word_lm/word_lm.ipynb": {"char_lm"}}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    destination = tmp_path_factory.mktemp("release") / "student"
    publish(REPO, destination)
    return destination


def release_files(release: Path) -> dict[str, bytes]:
    return {p.relative_to(release).as_posix(): p.read_bytes() for p in sorted(release.rglob("*")) if p.is_file()}


def solution_lines(chapter_notebook: Path, student_text: str) -> set[str]:
    """Distinctive lines of the solution and hidden-test bodies: 40 characters or more, and not also in
    the chapter's student notebook (which shows them anyway)."""
    lines = set()
    for cell in nbformat.read(chapter_notebook, as_version=4).cells:
        inside = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith("### BEGIN"):
                inside = True
            elif stripped.startswith("### END"):
                inside = False
            elif inside and len(stripped) >= 40 and stripped not in student_text:
                lines.add(stripped)
    return lines


def hidden_case_lines() -> set[str]:
    """Distinctive lines of the instructor's hidden cases and reference implementations (grader/)."""
    return {line.strip() for path in (REPO / "grader").glob("*.py") for line in path.read_text().splitlines()
            if len(line.strip()) >= 40 and not line.strip().startswith(("from ", "import ", '"""', "#"))}


def test_the_release_holds_what_students_use_and_nothing_of_the_instructors(release):
    assert {p.name for p in release.iterdir()} == SHIPPED_TOP
    files = release_files(release)
    listed = book.toc_files(yaml.safe_load((REPO / "_toc.yml").read_text()))
    chapters = sorted(p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file()
                      and f"notebooks/{p.name}/{p.name}" in listed)
    assert [f for f in files if f.startswith("notebooks/")] == [f"notebooks/{c}/{c}.ipynb" for c in chapters]
    assert not [f for f in files if f.startswith(("solutions/", "grader/", "results/", "tests/", "benchmarks/"))]
    assert "README.md" in files and b"course publish" not in files["README.md"]  # the students' README


def solution_overlaps(files: dict[str, str]) -> dict[str, set[str]]:
    """{released file: chapters whose distinctive solution lines it holds}, searching the solutions of every
    chapter whose notebook the release holds."""
    found: dict[str, set[str]] = {}
    searched = 0
    for notebook in sorted((REPO / "solutions").glob("*/*.ipynb")):
        chapter = notebook.parent.name
        student = files.get(f"notebooks/{chapter}/{chapter}.ipynb")
        if student is None:
            continue
        lines = solution_lines(notebook, student)
        searched += len(lines)
        for path, text in files.items():
            if any(line in text for line in lines):
                found.setdefault(path, set()).add(chapter)
    assert searched > 100  # the search has something to look for (143 lines when written)
    return found


def decoded(release: Path) -> dict[str, str]:
    return {path: data.decode("utf-8", "replace") for path, data in release_files(release).items()}


def test_no_file_of_the_release_holds_solution_or_hidden_test_text(release):
    files = decoded(release)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "HIDDEN = {"):
        assert not [path for path, text in files.items() if marker in text], marker
    hidden = hidden_case_lines()
    assert len(hidden) > 20
    assert not [path for path, text in files.items() if any(line in text for line in hidden)]
    assert solution_overlaps(files) == {**KNOWN_LIBRARY_OVERLAPS, **KNOWN_NOTEBOOK_OVERLAPS}
    listed = book.toc_files(yaml.safe_load((REPO / "_toc.yml").read_text()))
    assert listed.index("notebooks/char_lm/char_lm") < listed.index("notebooks/word_lm/word_lm")


def course_copy(root: Path) -> Path:
    """The instructor's course files copied to ``root`` (without the folders publish withholds wholesale)."""
    for path in course_files(REPO):
        if not path.startswith(("results/", "tests/", "benchmarks/")):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / path, root / path)
    return root


@pytest.fixture(scope="module")
def term_release(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """A term that has released the chapters up to char_lm: (course, release, withheld chapters)."""
    root = tmp_path_factory.mktemp("term")
    course = course_copy(root / "course")
    toc = yaml.safe_load((course / "_toc.yml").read_text())
    chapters = next(part for part in toc["parts"] if part.get("caption") == "Chapters")["chapters"]
    ends = [entry["file"] for entry in chapters].index("book/char_lm") + 1
    withheld = [entry["file"].removeprefix("book/") for entry in chapters[ends:]]
    del chapters[ends:]
    (course / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    publish(course, root / "out")
    return course, root / "out", withheld


def test_a_chapter_the_toc_does_not_list_is_withheld(term_release):
    course, release, withheld = term_release
    assert withheld[:1] == ["word_lm"]
    files = decoded(release)
    assert set(decide(course)) - set(files) >= {f"notebooks/{chapter}/{chapter}.ipynb" for chapter in withheld}
    for chapter in withheld:
        assert not [path for path in files if path.startswith(f"notebooks/{chapter}/")], chapter
        assert f"book/{chapter}.md" not in files and f"book/results/{chapter}.md" not in files, chapter
        assert f"{chapter} (not released yet)" in files["book/intro.md"], chapter
        assert not [path for path, text in files.items() if re.search(rf"{{doc}}`[^`]*\b{chapter}>?`", text)], chapter
    assert "notebooks/char_lm/char_lm.ipynb" in files and "book/char_lm.md" in files
    assert "{doc}`char_lm`" in files["book/intro.md"]
    assert solution_overlaps(files) == KNOWN_LIBRARY_OVERLAPS  # nothing gives char_lm's model away
    assert decide(course)["notebooks/word_lm/word_lm.ipynb"].reason.startswith("chapter word_lm is not in _toc.yml")


#: For each library file of KNOWN_LIBRARY_OVERLAPS, the checks of the exercises it overlaps and an answer
#: that hands in the library's version: each must be refused by the check's rule, on the source.
LIBRARY_ANSWERS = {
    "course_lib/cells.py": [
        ("cells.lstm_cell", "from course_lib.cells import LSTMCell as Given\n\n\nclass LSTMCell(Given):\n    pass\n"),
        ("cells.coupled", "import course_lib.cells\n\n\nclass CoupledLSTMCell(course_lib.cells.CoupledLSTMCell):\n"
                          "    pass\n"),
        ("cells.unroll_lstm", "from course_lib import cells as c\n\n\ndef unroll(cell, x, lengths=None, state=None):\n"
                              "    return c.unroll(cell, x, lengths, state)\n"),
        ("gates.lstm_gates", "from course_lib.cells import unroll\n\n\ndef lstm_gates(lstm, x):\n"
                             "    return unroll(lstm, x, return_gates=True)[2]\n"),
    ],
    "course_lib/params.py": [
        ("params.linear_params", "from course_lib.params import linear_params as count\n\n\n"
                                 "def linear_params(in_features, out_features, bias=True):\n"
                                 "    return count(in_features, out_features, bias)\n"),
        ("params.conv2d_params", "import course_lib.params as P\n\n\ndef conv2d_params(*args, **kwargs):\n"
                                 "    return P.conv2d_params(*args, **kwargs)\n"),
    ],
    "course_lib/data/imdb.py": [
        ("sentiment.collate", "from course_lib.data.imdb import collate_padded\n\n\ndef collate(batch):\n"
                              "    return collate_padded(batch)\n"),
    ],
}


def test_every_known_library_overlap_is_refused_by_a_rule():
    assert set(LIBRARY_ANSWERS) == set(KNOWN_LIBRARY_OVERLAPS)
    for path, answers in LIBRARY_ANSWERS.items():
        assert {name.split(".")[0] for name, _ in answers} == KNOWN_LIBRARY_OVERLAPS[path]
        for name, source in answers:
            check = find_check(name)
            assert check.rule is not None, name
            assert check.rule.judge_sources([source], check.target), (name, source)


def test_links_launch_buttons_and_install_lines_name_the_release(release):
    config = yaml.safe_load((release / "_config.yml").read_text())
    assert config["repository"] == {"url": TARGET.repository, "branch": TARGET.tag}
    setup = (release / "book" / "setup.md").read_text()
    assert f"git clone --branch {TARGET.tag} {TARGET.repository}.git rnn-course" in setup
    assert f'pip install --quiet "git+{TARGET.repository}.git@{TARGET.tag}"' in setup
    for path, data in release_files(release).items():
        assert not re.search(re.escape(INSTRUCTOR) + r"(?![\w-])", data.decode("utf-8", "replace")), path
    for notebook in sorted((release / "notebooks").glob("*/*.ipynb")):
        first = nbformat.read(notebook, as_version=4).cells[0]
        assert is_setup_cell(first) and f'"{TARGET.install_source}"' in first.source, notebook


def test_the_student_book_builds_from_a_term_release(term_release):
    """Built from a term's release (chapters up to char_lm): what students get, links to the chapters
    not released yet made plain text. The whole toc's book is built by tests/book."""
    _, release, withheld = term_release
    result = book.build(release, "student", profile="smoke", mathjax="local", capture=True, timeout=1500)
    assert result.ok, result.output[-6000:]
    assert f"{withheld[0]} (not released yet)" in (result.html / "book" / "intro.html").read_text()
    page = (result.html / "notebooks" / "params" / "params.html").read_text()
    org_repo = TARGET.repository.removeprefix("https://github.com/")
    assert f"colab.research.google.com/github/{org_repo}/blob/{TARGET.tag}/notebooks/params/params.ipynb" in page
    assert not (result.html / "solutions").exists()


# -- the rules stop what they do not know ------------------------------------------------------------

def minimal_course(root: Path, solution: str = "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n"
                   "    ### END SOLUTION") -> Path:
    """A course folder with one toy chapter: book config, a page, its release settings, a solution."""
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text("title: Toy\nrepository:\n  url: https://example.org/toy\n  branch: main\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    (root / "book" / "intro.md").write_text("# Toy\n\n    git clone https://example.org/toy.git toy\n")
    (root / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.course.release]
        repository = "https://example.org/toy-student"
        tag = "t1"
    """))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(solution)])
    notebook.cells[0].metadata["nbgrader"] = {"grade": False, "grade_id": "add", "locked": False,
                                              "schema_version": 3, "solution": True, "task": False}
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (root / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(notebook, root / "solutions" / "toy" / "toy.ipynb")
    return root


def test_publish_retargets_and_withholds_by_rule(tmp_path):
    course = minimal_course(tmp_path / "course")
    shipped = publish(course, tmp_path / "out")
    assert sorted(shipped) == ["_config.yml", "_toc.yml", "book/intro.md", "pyproject.toml"]
    assert (tmp_path / "out" / "book" / "intro.md").read_text() == \
        "# Toy\n\n    git clone --branch t1 https://example.org/toy-student.git toy\n"
    assert (tmp_path / "out" / "_config.yml").read_text() == \
        "title: Toy\nrepository:\n  url: https://example.org/toy-student\n  branch: t1\n"


def test_a_file_no_rule_decides_stops_the_release(tmp_path):
    course = minimal_course(tmp_path / "course")
    (course / "notes.txt").write_text("answers: 42")
    with pytest.raises(PublishError, match=r"no publishing rule decides notes.txt: add a rule"):
        publish(course, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_solution_delimiter_in_a_shipped_file_stops_the_release(tmp_path):
    course = minimal_course(tmp_path / "course")
    (course / "book" / "leak.md").write_text("```\n### BEGIN SOLUTION\nreturn a + b\n```\n")
    with pytest.raises(PublishError, match=r"book/leak.md holds nbgrader's 'BEGIN SOLUTION' delimiter"):
        publish(course, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_publish_refuses_a_destination_that_is_not_empty(tmp_path):
    course = minimal_course(tmp_path / "course")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("last term")
    with pytest.raises(PublishError, match="is not empty"):
        publish(course, tmp_path / "out")


# -- instructor commands act on the course they run in -----------------------------------------------

def test_the_course_is_found_upward_from_the_current_directory(tmp_path):
    course = minimal_course(tmp_path / "course")
    assert find_course(course / "solutions" / "toy") == course.resolve()
    with pytest.raises(CourseNotFoundError, match="pass --course DIR"):
        find_course(tmp_path)


def test_course_release_acts_on_the_copy_it_is_run_in(tmp_path, monkeypatch, capsys):
    course = minimal_course(tmp_path / "copy")
    monkeypatch.chdir(course / "solutions" / "toy")
    assert cli.main(["release"]) == 0
    released = nbformat.read(course / "notebooks" / "toy" / "toy.ipynb", as_version=4)
    assert released.cells[0].id == TAG and '"git+https://example.org/toy-student.git@t1"' in released.cells[0].source
    assert "raise NotImplementedError" in released.cells[1].source
    assert not (REPO / "notebooks" / "toy").exists()  # the repository course_lib lives in is untouched
    capsys.readouterr()

    monkeypatch.chdir(tmp_path)  # not a course: found nowhere, named explicitly
    assert cli.main(["release", "--check"]) == 1
    assert "is not inside a course folder" in capsys.readouterr().out
    assert cli.main(["release", "--check", "--course", str(course)]) == 0
    assert capsys.readouterr().out == "notebooks/ is up to date with solutions/.\n"


def test_course_publish_command_reports_the_release(tmp_path, monkeypatch, capsys):
    course = minimal_course(tmp_path / "course")
    monkeypatch.chdir(course / "book")
    assert cli.main(["publish", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"course publish: wrote the student release of {course.resolve()} to {tmp_path / 'out'} (4 files, ")
    assert "Commit it to https://example.org/toy-student and tag it `t1`" in out
