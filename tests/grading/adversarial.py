"""Crafted submissions of the params chapter: attacks on the grader, crashes, broken files, mutants.

Each entry of :data:`BATCH` is one file of the batch ``test_adversarial.py`` grades through
``course grade`` in ONE run, with the exact points every graded cell must get and a word its
status must contain. The notebooks are built here from the released notebook (a blank
submission) or from it with the solution's answers filled in (a correct one), then changed the
way the named attack or mistake does. Attacks are those issue 13 reports (they broke the old,
kernel-decided grader) and more; mutants are the typical wrong answers of the chapter.
"""

from __future__ import annotations

import copy

import nbformat
from crafting import REPO, Crafting, cell_of, edit, is_test

PARAMS = Crafting("params")
POINTS = PARAMS.points
WRITTEN = "answer_two_biases"
blank, correct, expect, replace_in = PARAMS.blank, PARAMS.correct, PARAMS.expect, PARAMS.replace_in
# Text that must never reach a student: the instructor's answers and hidden cases (params and cells).
# (A correct answer's own text is not among them: its author wrote it.)
SECRETS = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "random.Random(201)", "Random(216)", "def _conv2d",
           "HIDDEN = {", "def textbook_gru_reference", "c_new = f * c + (1 - f) * g", "_probe(12, 10, 4, 214)")
DAEMON_MARKER = "COURSE-DAEMON-MARKER"


# -- attacks on the grader (issue 13's, and more), on a blank notebook: any point is a forged one --
IPYTHON_ATTACKS = {
    "input_transformer": "get_ipython().input_transformers_post.append(lambda lines: [])\n",
    "ast_transformer": (
        "import ast\nclass Wrap(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
        "        handler = ast.ExceptHandler(type=None, name=None, body=[ast.Pass()])\n"
        "        return ast.fix_missing_locations(ast.Module(body=[ast.Try(body=node.body, handlers=[handler], "
        "orelse=[], finalbody=[])], type_ignores=[]))\nget_ipython().ast_transformers.append(Wrap())\n"),
    "post_run_cell_hook": ("ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
                           "ip.events.register('post_run_cell', lambda r: setattr(r, 'error_in_exec', None))\n"),
    "replaced_run_cell": "get_ipython().run_cell = lambda *a, **k: None\n",
    "display_hook_result": ("import sys\nsys.displayhook(21)\n"
                            "get_ipython().events.register('pre_run_cell', lambda *a: sys.displayhook(1.0))\n"),
}
TRY = "try:\n{}except Exception:\n    pass\n"


def _indent(code):
    return "".join("    " + line + "\n" for line in code.splitlines())


ALWAYS_EQUAL = '''
class Always(int):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = int.__hash__
def linear_params(in_features, out_features, bias=True):
    return Always(0)
'''
REDEFINED_CHECKS = '''
import course_lib.checks as K
import course_lib.checks.params as P
import course_lib.grading.checks as C
P.check_count = lambda *a, **k: None
C.check_equal = lambda *a, **k: None
K.check = lambda *a, **k: None
check = lambda *a, **k: None
for name in P.CHECKS:
    P.CHECKS[name].compare = lambda *a, **k: None
'''
MONKEYPATCH = '''
import torch
setattr(getattr(torch, "nn").Module, "parameters", lambda self, recurse=True: iter([]))
vars(torch)["allclose"] = lambda *a, **k: True
exec("torch.Tensor.item = lambda self: 0")
torch.nn.Module.named_parameters = lambda self, *a, **k: iter([])
torch.Tensor.numpy = lambda self: None
'''
READ_SECRETS = '''
import os
for folder in ["/", "/work", "/work/main", "/tmp", "/root", "/course", "/home", os.getcwd()]:
    try:
        print("LIST", folder, sorted(os.listdir(folder))[:50])
    except OSError as error:
        print("cannot list", folder, error)
for path in ["/work/wt-grading/solutions/params/params.ipynb", "/work/main/solutions/params/params.ipynb",
             "/work/wt-grading/grader/params.py", "/work/main/grader/params.py", "/course/grader/params.py",
             "/proc/1/environ", "/proc/self/environ", "/etc/shadow", "/work/main/.venv/pyvenv.cfg"]:
    try:
        print("READ", path, open(path, errors="replace").read()[:3000])
    except OSError as error:
        print("cannot read", path, error)
print("ENV", dict(os.environ))
'''
WRITE_EVERYWHERE = '''
import os
DONE = "WR" + "OTE"  # spelt apart: only a write that worked prints the word
for path in ["/work/wt-grading/README.md", "/work/main/README.md", "/work/main/.venv/pyvenv.cfg",
             "/course/course_lib/checks/params.py", "/tmp/planted.txt", "nbgrader_config.py",
             os.path.expanduser("~/.jupyter/nbgrader_config.py"), "/usr/lib/planted"]:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "a") as handle:
            handle.write("c.Autograde.autograde_preprocessors = []  # planted\\n")
        print(DONE, path)
    except OSError as error:
        print("cannot write", path, error.strerror)
try:
    with open("/scratch/big", "wb") as handle:
        for _ in range(200):
            handle.write(b"x" * 2**20)
    print(DONE, "200 MB")
except OSError as error:
    print("scratch is capped:", error.strerror)
import sqlite3, glob
for db in glob.glob("/**/gradebook.db", recursive=False) + glob.glob("/tmp/*/gradebook.db"):
    sqlite3.connect(db).execute("update grade set manual_score = 100")
    print(DONE, db)
'''
DAEMONS = f'''
import os, subprocess
subprocess.Popen(["/bin/sh", "-c", "while true; do sleep 1; done # {DAEMON_MARKER}"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:  # a child that keeps every pipe of the notebook's process open
    os.setsid()
    os.execv("/bin/sh", ["sh", "-c", "while true; do sleep 1; done # {DAEMON_MARKER} holding pipes"])
'''
FORGED_REPLIES = '''
import os
for fd in range(3, 40):
    try:
        os.write(fd, b'{"ready": true}\\n{"id": 1, "ok": true, "value": 202}\\n{"id": 2, "ok": true, "value": 202}\\n')
    except OSError:
        pass
'''
GARBAGE_REPLIES = '''
import os
if os.fork() == 0:
    for _ in range(50):
        for fd in range(3, 40):
            try:
                os.write(fd, b"not json at all\\n" * 1000)
            except OSError:
                pass
    os._exit(0)
import time
time.sleep(3)  # the garbage goes first
'''
FORK_BOMB = '''
import os, time
children = 0
while True:  # fill the process limit with sleepers: the sandboxes graded beside this one must not notice
    try:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        children += 1
    except OSError:
        break
print("children:", children)
'''
XSS = '<script>alert("xss")</script><img src=x onerror="alert(1)"> $a^2$'


def _attack_on_blank(code: str, grade_id: str = "linear_params") -> nbformat.NotebookNode:
    return edit(blank(), grade_id, before=code + "\n")


def _attack_on_correct(code: str, grade_id: str = "torch_lstm_extra") -> nbformat.NotebookNode:
    return edit(correct(), grade_id, before=code + "\n")


def _without_test_cells(notebook):
    notebook.cells = [c for c in notebook.cells if not is_test(c)]
    return notebook


def _tests_edited(notebook, source="pass"):
    for cell in notebook.cells:
        if is_test(cell):
            cell.source = source
    return notebook


def _metadata_forged(notebook):
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if is_test(cell):
            meta.update(solution=True, points=100)
        elif meta.get("solution"):
            meta.update(grade=True, points=50)
    return notebook


def _duplicated_answer(notebook):
    extra = copy.deepcopy(cell_of(notebook, "linear_params"))
    extra.source = "def linear_params(in_features, out_features, bias=True):\n    return 0\n"
    notebook.cells.append(extra)
    return notebook


def _without_answer(notebook, grade_id):
    notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return notebook


def _with_extra_cell(notebook):
    notebook.cells.append(nbformat.v4.new_code_cell(PARAMS.answers["linear_params"]))
    return notebook


FROM_SCRATCH_CHEAT = '''from torch import nn
def linear_params(in_features, out_features, bias=True):
    return sum(p.numel() for p in nn.Linear(in_features, out_features, bias=bias).parameters())
'''
EXEC_DEFINED = '''exec("def linear_params(i, o, bias=True):\\n    return i * o + (o if bias else 0)")'''
HARDCODED = '''def linear_params(in_features, out_features, bias=True):
    return {(100, 2, True): 202, (128, 100, False): 12800, (7, 3, True): 24}.get((in_features, out_features, bias), 0)
'''
SENTIMENT_NO_POOL = ("        return self.head(torch.relu(outputs).max(dim=1).values)  # (B, C)",
                     "        return self.head(torch.relu(outputs))  # (B, T, C): forgot to pool over time")

C, B = "correct", "blank"
# name -> (notebook or bytes or None (a folder without a notebook), expected points per cell, status word)
BATCH = {
    # controls
    "correct": (correct(), expect(C), "ok"),
    "blank": (blank(), expect(B), "ok"),
    # forged marks (issue 13), each on a blank notebook
    **{f"ipython_{name}": (_attack_on_blank(TRY.format(_indent(code))), expect(B), "ok")
       for name, code in IPYTHON_ATTACKS.items()},
    "always_equal_int": (edit(blank(), "linear_params", source=ALWAYS_EQUAL), expect(B), "ok"),
    "redefined_checks": (_attack_on_blank(REDEFINED_CHECKS), expect(B), "ok"),
    "monkeypatched_torch": (_attack_on_blank(MONKEYPATCH), expect(B), "ok"),
    "forged_replies": (_attack_on_blank(FORGED_REPLIES), expect(B), ""),
    "tests_edited_to_pass": (_tests_edited(blank()), expect(B), "ok"),
    "metadata_forged": (_metadata_forged(blank()), expect(B), "ok"),
    # secrets and other students
    "read_secrets": (_attack_on_correct(READ_SECRETS), expect(C), "ok"),
    "write_everywhere": (_attack_on_correct(WRITE_EVERYWHERE), expect(C), "ok"),
    "daemons": (_attack_on_correct(DAEMONS), expect(C), "ok"),
    "fork_bomb": (_attack_on_correct(FORK_BOMB), expect(C), "ok"),
    # the cell whose process flooded the replies is left out of the next sandbox: only its exercise is lost
    "garbage_replies": (_attack_on_correct(GARBAGE_REPLIES), expect(C, ["test_torch_lstm_extra"]), "malformed"),
    # the batch must go on
    "recursion_bomb": (_attack_on_correct("x = " + "+".join(["1"] * 200_000)), expect(C, ["test_torch_lstm_extra"]), "ok"),
    "recursive_answer": (edit(correct(), "linear_params", source="def linear_params(*a, **k):\n    return linear_params(*a, **k)\n"),
                         expect(C, ["test_linear_params", "test_sentiment_params"]), "ok"),
    "os_exit": (_attack_on_correct("import os\nos._exit(3)"), expect(C, ["test_torch_lstm_extra"]), "kernel crashed"),
    "segfault": (_attack_on_correct("import faulthandler\nfaulthandler._sigsegv()"), expect(C, ["test_torch_lstm_extra"]), "kernel crashed"),
    "infinite_loop": (_attack_on_correct("while True:\n    pass"), expect(C, ["test_torch_lstm_extra"]), "cell time limit"),
    "stubborn_loop": (_attack_on_correct("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"),
                      expect(C, ["test_torch_lstm_extra"]), "notebook time limit"),
    "memory_bomb": (_attack_on_correct("hog = bytearray(64 * 1024**3)"), expect(C, ["test_torch_lstm_extra"]), "memory limit"),
    "sys_exit": (_attack_on_correct("raise SystemExit(0)"), expect(C, ["test_torch_lstm_extra"]), "ok"),
    "huge_output": (_attack_on_correct("for _ in range(100):\n    print('x' * 1_000_000)"), expect(C), "ok"),
    "nested_json": (("[" * 100_000 + "]" * 100_000).encode(), PARAMS.nothing(), "nested too deeply"),
    "not_json": (b'{"cells": [', PARAMS.nothing(), "not valid JSON"),
    "empty": (b"", PARAMS.nothing(), "empty file"),
    "not_utf8": ("caf\xe9 notebook".encode("latin-1"), PARAMS.nothing(), "not UTF-8"),
    "n" * 239: (correct(), expect(C), "ok"),  # a 245-character file name
    ".dotfile": (correct(), expect(C), "ok"),
    "a b": (correct(), expect(C), "ok"),
    "a_b": (blank(), expect(B), "taken"),
    "josé": (correct(), expect(C), "taken"),
    "josè": (blank(), expect(B), "ok"),
    "nbformat3": (nbformat.convert(correct(), 3), expect(C), "ok"),
    # nbgrader's own traps: the instructor's notebook decides, a status says what was odd
    "deleted_test_cells": (_without_test_cells(correct()), expect(C), "ok"),
    "duplicate_answer": (_duplicated_answer(correct()), expect(C), "duplicate"),
    "deleted_answer": (_without_answer(correct(), "linear_params"),  # sentiment_params calls linear_params
                       expect(C, ["test_linear_params", "test_sentiment_params"]), "missing"),
    "helper_in_new_cell": (_with_extra_cell(blank()), expect(B), "ok"),
    "script_in_answers": (edit(edit(correct(), WRITTEN, source=XSS), "torch_lstm_extra",
                               before=f"print({XSS!r})\n"), expect(C), "ok"),
    # from-scratch rules, judged on the source
    # (sentiment_params calls linear_params: a function it calls is held to the same rule)
    "counts_a_module": (edit(correct(), "linear_params", source=FROM_SCRATCH_CHEAT),
                        expect(C, ["test_linear_params", "test_sentiment_params"]), "ok"),
    # exec anywhere in the answers could rebind any function: no formula can be judged on its source
    "defined_by_exec": (edit(correct(), "linear_params", source=EXEC_DEFINED),
                        expect(C, [g for g in POINTS if g not in (WRITTEN, "test_sentiment_model")]), "ok"),
    "rebound_elsewhere": (edit(correct(), "gru_params", after="\nlstm_params = lambda *a, **k: 0\n"),
                          expect(C, ["test_lstm_params", "test_sentiment_params"]), "ok"),
    # typical wrong answers (mutants)
    "mutant_conv_bias_always": (replace_in("conv2d_params", "+ (out_channels if bias else 0)", "+ out_channels"),
                                expect(C, ["test_conv2d_params"]), "ok"),
    "mutant_conv_output_no_padding": (replace_in("conv_output_size", "size + 2 * padding - kernel_size", "size - kernel_size"),
                                      expect(C, ["test_conv_output_size", "test_same_activation_shapes"]), "ok"),
    "mutant_lstm_three_gates": (replace_in("lstm_params", "first = 4 *", "first = 3 *"),
                                expect(C, ["test_lstm_params", "test_sentiment_params"]), "ok"),
    "mutant_lstm_layers_read_input": (replace_in("lstm_params", "later = 4 * (H * H + H * H", "later = 4 * (input_size * H + H * H"),
                                      expect(C, ["test_lstm_params"]), "ok"),
    "mutant_elman_no_bias": (replace_in("elman_params", "+ num_biases * H", ""), expect(C, ["test_elman_params"]), "ok"),
    "mutant_peephole_always_full": (replace_in("peephole_lstm_params", '(H if peephole == "full" else 1)', "H"),
                                    expect(C, ["test_peephole_lstm_params"]), "ok"),
    "mutant_extra_one_layer": (replace_in("torch_lstm_extra", "4 * hidden_size * num_layers", "4 * hidden_size"),
                               expect(C, ["test_torch_lstm_extra"]), "ok"),
    "mutant_hardcoded_visible": (edit(correct(), "linear_params", source=HARDCODED),  # sentiment_params uses it
                                 expect(C, ["test_linear_params", "test_sentiment_params"]), "ok"),
    "mutant_sentiment_no_pooling": (replace_in("sentiment_model", *SENTIMENT_NO_POOL), expect(C, ["test_sentiment_model"]), "ok"),
}

