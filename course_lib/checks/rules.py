""""From scratch" rules, judged on the submitted source (an AST), never on objects in a kernel.

A rule gets the student's answer cells as text and the name of the checked function or class,
and returns '' or what is wrong. The grader calls :meth:`Rule.judge_sources` with the answer
cells of the submission; a student's kernel calls :meth:`Rule.judge_object` with the code
``inspect`` finds, for early feedback. Two rules:

* :class:`FormulaRule` -- the answer is arithmetic in its arguments: only its own names, a few
  builtins and other functions of the answer cells (judged the same way) may appear;
* :class:`ForbiddenRule` -- the answer must not mention what it re-implements (``nn.LSTMCell``,
  ``torch.lstm_cell``, the course's own cells, ...).

Both refuse code that builds code or rebinds names at run time (``exec``, ``globals()``,
``setattr`` on a module, a second definition of the checked name in another cell): the grader
could not tell what would run.
"""

from __future__ import annotations

import ast
import builtins
import inspect

from course_lib.checks.base import parse, source_of

# Names and attributes through which code changes or builds other code at run time.
DYNAMIC_NAMES = frozenset({"exec", "eval", "compile", "globals", "locals", "vars", "setattr", "delattr",
                           "__import__", "__builtins__", "builtins", "importlib", "get_ipython", "sys",
                           "types", "ctypes", "inspect", "gc"})
DYNAMIC_ATTRIBUTES = frozenset({"__dict__", "__code__", "__globals__", "__builtins__", "__class__",
                                "__subclasses__", "__setattr__", "__getattribute__", "__closure__",
                                "__defaults__", "__kwdefaults__", "__func__", "__wrapped__", "__mro__"})


def _bound_names(tree: ast.AST) -> list[tuple[str, int]]:
    """Top-level (name, line) bindings of a cell: defs, classes, assignments, imports."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.name, node.lineno))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.append((node.id, node.lineno))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found += [((a.asname or a.name).split(".")[0], node.lineno) for a in node.names]
        elif isinstance(node, ast.Global):
            found += [(name, node.lineno) for name in node.names]
    return found


def dynamic_code(tree: ast.AST) -> str:
    """'' or the first construct of ``tree`` that builds or rebinds code at run time."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in DYNAMIC_NAMES:
            return f"`{node.id}` (line {node.lineno})"
        if isinstance(node, ast.Attribute) and node.attr in DYNAMIC_ATTRIBUTES:
            return f"`.{node.attr}` (line {node.lineno})"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for module in modules:
                if module.split(".")[0] in DYNAMIC_NAMES:
                    return f"`import {module}` (line {node.lineno})"
    return ""


def top_level_definitions(trees: list[ast.Module]) -> dict[str, ast.AST]:
    found = {}
    for tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.setdefault(node.name, node)
    return found


class Rule:
    """A from-scratch rule; subclasses implement :meth:`judge_definition`."""

    def judge_sources(self, sources: list[str], target: str) -> str:
        """'' when ``target``, as the answer cells ``sources`` define it, keeps the rule; else why not."""
        trees = [tree for tree in map(parse, sources) if tree is not None]
        for tree in trees:
            problem = dynamic_code(tree)
            if problem:
                return (f"{target} cannot be checked: your code uses {problem}, which builds or changes "
                        "code while it runs. Write plain definitions.")
        bindings = [line for tree in trees for name, line in _bound_names(tree) if name == target]
        if len(bindings) > 1:
            return (f"{target} is defined or assigned {len(bindings)} times in your answers; "
                    "define it once, in its own answer cell.")
        definitions = top_level_definitions(trees)
        if target not in definitions:
            return f"{target} is not defined with `def` or `class` in its answer cell."
        return self.judge_definition(definitions, target, set())

    def judge_object(self, obj, target: str) -> str:
        """The same rule on the code a kernel can find for ``obj`` and the notebook functions it uses."""
        source = source_of(obj)
        if source is None:
            return f"cannot read the code of {target}; define it in a notebook cell with `def` or `class`."
        sources, seen = [source], {target}
        namespace = getattr(obj, "__globals__", None) or {}
        pending = [source]
        while pending:
            tree = parse(pending.pop())
            for node in ast.walk(tree) if tree else []:
                if isinstance(node, ast.Name) and node.id not in seen and inspect.isfunction(namespace.get(node.id)):
                    seen.add(node.id)
                    helper = source_of(namespace[node.id])
                    if helper is not None and namespace[node.id].__globals__ is namespace:
                        sources.append(helper)
                        pending.append(helper)
        return self.judge_sources(sources, target)

    def judge_definition(self, definitions: dict[str, ast.AST], target: str, seen: set) -> str:
        raise NotImplementedError


SAFE_BUILTINS = frozenset({"int", "float", "bool", "isinstance", "tuple", "list", "range", "len", "sum", "max",
                           "min", "zip", "enumerate", "abs", "divmod", "round", "ValueError", "TypeError",
                           "True", "False", "None", "all", "any", "map", "reversed", "sorted", "dict", "str"}
                          | {name for name, value in vars(builtins).items()   # raising is not counting
                             if isinstance(value, type) and issubclass(value, BaseException)})
SHORTCUT_ATTRIBUTES = frozenset({"parameters", "named_parameters", "numel", "nelement", "state_dict"})


class FormulaRule(Rule):
    """A count from a formula in the sizes: integer arithmetic, nothing built and counted."""

    def judge_definition(self, definitions, target, seen) -> str:
        if target in seen:
            return ""
        seen.add(target)
        node = definitions[target]
        local = {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)}
        local |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Import, ast.ImportFrom)):
                return f"{target} imports a module (line {sub.lineno}): a count is a formula in the sizes."
            if isinstance(sub, ast.Attribute) and sub.attr in SHORTCUT_ATTRIBUTES:
                return (f"{target} calls `.{sub.attr}`: write the count as a formula in the sizes instead of "
                        "counting the entries of tensors.")
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in local:
                if sub.id in definitions and sub.id != target:
                    problem = self.judge_definition(definitions, sub.id, seen)
                    if problem:
                        return f"{problem} (called by {target})"
                elif sub.id not in SAFE_BUILTINS and sub.id != target:
                    return (f"{target} uses `{sub.id}`: a count must come from a formula in the sizes "
                            "(integer arithmetic), not from building a module and counting it.")
        return ""


class ForbiddenRule(Rule):
    """The answer must not mention what it re-implements, by any spelling the source shows."""

    def __init__(self, forbidden: tuple[str, ...], advice: str, attributes: tuple[str, ...] = ()):
        self.forbidden, self.advice, self.attributes = forbidden, advice, attributes

    def _spellings(self) -> set[str]:
        """Each forbidden name and its shorter dotted tails (``nn.LSTMCell`` for ``torch.nn.LSTMCell``);
        a bare last part is not one of them: the student's own class may share its name."""
        spellings = set()
        for banned in self.forbidden:
            parts = banned.split(".")
            spellings |= {".".join(parts[k:]) for k in range(len(parts) - 1)} or {banned}
        return spellings

    def _mentions(self, node: ast.AST) -> str:
        spellings = self._spellings()
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Import, ast.ImportFrom)):
                prefix = f"{sub.module}." if isinstance(sub, ast.ImportFrom) and sub.module else ""
                for alias in sub.names:
                    name = prefix + alias.name
                    if any(name == b or name.startswith(b + ".") for b in self.forbidden):
                        return f"import {name}"
            elif isinstance(sub, ast.Attribute) and sub.attr in self.attributes:
                return f".{sub.attr}"
            elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "getattr" \
                    and len(sub.args) >= 2:
                # getattr(module, "name") is module.name; a computed name could be anything
                name = sub.args[1]
                if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                    return "getattr with a computed name"
                try:
                    text = f"{ast.unparse(sub.args[0])}.{name.value}"
                except (ValueError, RecursionError):
                    continue
                if name.value in spellings or any(text == s or text.endswith("." + s) for s in spellings):
                    return f"getattr(..., {name.value!r})"
            elif isinstance(sub, (ast.Attribute, ast.Name)):
                try:
                    text = ast.unparse(sub)
                except (ValueError, RecursionError):
                    continue
                if any(text == s or text.startswith(s + ".") or text.endswith("." + s) for s in spellings):
                    return text
        return ""

    def judge_sources(self, sources: list[str], target: str) -> str:
        problem = super().judge_sources(sources, target)
        if problem:
            return problem
        return self._through_top_level(trees=[t for t in map(parse, sources) if t is not None], target=target)

    def _through_top_level(self, trees: list[ast.Module], target: str) -> str:
        """'' or the name through which ``target`` (or a helper it calls) reaches a forbidden thing bound
        by a top-level statement of an answer cell (``from course_lib import data as tools``,
        ``Cell = nn.LSTMCell``): :meth:`judge_definition` reads definitions only."""
        statements = [node for tree in trees for node in tree.body
                      if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        tainted: dict[str, tuple[str, int]] = {}  # name -> (the forbidden thing it was bound to, line)
        changed = True
        while changed:  # `a = nn.LSTMCell` then `b = a`: follow the chain
            changed = False
            for statement in statements:
                # `import course_lib.data, torch`: only the alias that imports a forbidden thing is tainted
                parts = ([type(statement)(**{**vars(statement), "names": [alias]}) for alias in statement.names]
                         if isinstance(statement, (ast.Import, ast.ImportFrom)) else [statement])
                for node in parts:
                    names = {name for name, _ in _bound_names(node)} - set(tainted)
                    if not names:
                        continue
                    mention = self._mentions(node) or next(
                        (tainted[sub.id][0] for sub in ast.walk(node)
                         if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id in tainted), "")
                    if mention:
                        tainted.update(dict.fromkeys(names, (mention, node.lineno)))
                        changed = True
        definitions = top_level_definitions(trees)
        pending, seen = [target], set()
        while tainted and pending:
            name = pending.pop()
            if name in seen or name not in definitions:
                continue
            seen.add(name)
            for sub in ast.walk(definitions[name]):
                if isinstance(sub, ast.Name) and sub.id in tainted and isinstance(sub.ctx, ast.Load):
                    mention, line = tainted[sub.id]
                    return (f"{target} uses `{sub.id}`, which line {line} of your answers binds to `{mention}`; "
                            f"this exercise rules that out. {self.advice}")
                if isinstance(sub, ast.Name) and sub.id in definitions:
                    pending.append(sub.id)
        return ""

    def judge_definition(self, definitions, target, seen) -> str:
        if target in seen:
            return ""
        seen.add(target)
        node = definitions[target]
        mention = self._mentions(node)
        if mention:
            return f"{target} uses `{mention}`, which this exercise rules out. {self.advice}"
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = ast.unparse(base)
                if name in definitions:
                    problem = self.judge_definition(definitions, name, seen)
                    if problem:
                        return problem
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in definitions and sub.id != target:
                problem = self.judge_definition(definitions, sub.id, seen)
                if problem:
                    return f"{problem} (used by {target})"
        return ""

