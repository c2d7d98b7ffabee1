"""A chapter's checks run the grader's way (rule on the source, visible and hidden cases, comparison in
this process) on answer cells executed here, without a sandbox: fast unit tests of a chapter's checks."""

from __future__ import annotations

import linecache

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import find_check
from course_lib.checks.base import perform
from course_lib.grading import wire
from course_lib.grading.trusted import Verdict, load_instructor_half, run_check
from crafting import REPO, Crafting


class LocalSession:
    """Answers requests in this process, through the wire format both ways (as the sandbox would)."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def ask(self, request):
        request = wire.loads(wire.dumps(wire.encode(request)))
        try:
            value = perform(request, self.namespace[request["target"]])
        except Exception as error:
            return False, (type(error).__name__, str(error))
        return True, wire.loads(wire.dumps(wire.encode(value)))


class LocalChapter:
    """The solution's code answers of a chapter, editable, and the grader's verdict on them."""

    def __init__(self, chapter: str):
        crafting = Crafting(chapter)
        self.answers = {g: a for g, a in crafting.answers.items() if g not in crafting.written}
        self.hidden, self.instructor = load_instructor_half(REPO, chapter)

    def edited(self, replacements: dict | None = None) -> dict[str, str]:
        """The answers with ``{grade_id: (old, new)}`` edits (or a list of such pairs per answer)."""
        sources = dict(self.answers)
        for grade_id, pairs in (replacements or {}).items():
            for old, new in pairs if isinstance(pairs, list) else [pairs]:
                assert old in sources[grade_id], (grade_id, old)
                sources[grade_id] = sources[grade_id].replace(old, new)
        return sources

    @staticmethod
    def run(sources: dict[str, str]) -> dict:
        """The answer cells run as a notebook would (linecache keeps their source for inspect)."""
        namespace = {"torch": torch, "nn": nn, "F": F, "math": __import__("math"), "copy": __import__("copy")}
        for grade_id, source in sources.items():
            filename = f"<answer {grade_id} {hash(source)}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            exec(compile(source, filename, "exec"), namespace)
        return namespace

    def verdict(self, name: str, sources: dict[str, str]) -> Verdict:
        check = self.instructor.get(name) or find_check(name)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as the grader does: small tensors, no pool fighting other processes for cores
        try:
            return run_check(check, self.hidden.get(name, []), list(sources.values()), LocalSession(self.run(sources)))
        finally:
            torch.set_num_threads(threads)
