"""Guards for the code's shape: private upstream names in one module, public names that
resolve, small files and functions."""

import ast
import importlib
import os
import pkgutil
import re

from _helpers import REPO

import kregs

SOURCE_DIRS = ("kregs", "tuner", "cli")
# Names private to KerasTuner or TensorFlow (or module globals they keep to themselves).
PRIVATE = re.compile(
    r"keras_tuner\.src|tensorflow\.python|keras\.src|_retry_queue|\bLOCKS\b|"
    r"\.ongoing_trials|\.tuner_ids|oracle_client|_get_checkpoint_fname|"
    r"oracle\.max_trials\s*="
)
COMPAT = os.path.join("kregs", "compat")
THIS = os.path.join("tests", "test_architecture.py")


def _python_files(*folders):
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, folder)):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
            for name in filenames:
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(dirpath, name), REPO)


def test_private_upstream_names_live_only_in_compat():
    offenders = []
    for rel in _python_files(*SOURCE_DIRS, "tests", "bench", "examples"):
        if rel.startswith(COMPAT + os.sep) or rel == THIS:
            continue
        with open(os.path.join(REPO, rel)) as f:
            for number, line in enumerate(f, start=1):
                if PRIVATE.search(line):
                    offenders.append(f"{rel}:{number}: {line.strip()}")
    assert offenders == []


def test_compat_really_holds_them():
    texts = []
    for name in os.listdir(os.path.join(REPO, COMPAT)):
        if name.endswith(".py"):
            with open(os.path.join(REPO, COMPAT, name)) as f:
                texts.append(f.read())
    assert PRIVATE.search("\n".join(texts))  # the scan above looks for the right thing


def _modules():
    yield kregs
    for info in pkgutil.walk_packages(kregs.__path__, "kregs."):
        if info.name != "kregs.__main__":
            yield importlib.import_module(info.name)


def test_every_name_in_every_all_resolves():
    missing = [
        f"{module.__name__}.{name}"
        for module in _modules()
        for name in getattr(module, "__all__", ())
        if not hasattr(module, name)
    ]
    assert missing == []


# A module holds one concept, as long as that concept needs: a file past this many lines
# usually holds two (then split it by concept, never by size). One that is longer says why.
LINES = 500
LONGER = {}  # "path": "why this one concept needs more"
FUNCTION_LINES = 80


def test_no_source_file_past_its_concept_no_function_over_80_lines():
    too_long = []
    for rel in _python_files(*SOURCE_DIRS):
        with open(os.path.join(REPO, rel)) as f:
            text = f.read()
        if text.count("\n") > LINES and rel not in LONGER:
            too_long.append(f"{rel}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > FUNCTION_LINES:
                    too_long.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    assert too_long == []


def _module_names():
    """`{module name: source path}` of every kregs module (`tuner/` is `kregs.tuner`, ...)."""
    packages = {"kregs": "kregs", "tuner": "kregs.tuner", "cli": "kregs.cli"}
    names = {}
    for rel in _python_files(*SOURCE_DIRS):
        folder, *rest = rel[:-3].split(os.sep)
        parts = [packages[folder], *rest]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = rel
    return names


def kregs_imports():
    """`{module: {module it imports}}` over kregs' own modules, imports inside functions
    included (a package's `__init__` reached through its submodules is not counted)."""
    names = _module_names()
    graph = {}
    for module, rel in names.items():
        with open(os.path.join(REPO, rel)) as f:
            tree = ast.parse(f.read())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in names
                    else node.module
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                while target and target not in names:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    found.add(target)
        graph[module] = found
    return graph


def test_no_import_circles_even_inside_functions():
    """An import inside a function may defer a heavy library (TensorFlow: `kregs --help`
    answers without it); it must not hide a circle. Where two modules need each other,
    the piece they share moves down a floor."""
    graph = kregs_imports()
    circles = []
    for start in graph:  # a path back to `start`, by depth-first search
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    circles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert sorted(set(circles))[:5] == []


def test_the_layers_depend_one_way():
    """library (kregs/) <- search (kregs.tuner) <- interface (kregs.cli)."""
    wrong = [
        f"{module} imports {target}"
        for module, targets in kregs_imports().items()
        for target in targets
        if (
            not module.startswith(("kregs.tuner", "kregs.cli"))
            and module not in ("kregs", "kregs.__main__")  # the entry points
            and target.startswith(("kregs.tuner", "kregs.cli"))
        )
        or (module.startswith("kregs.tuner") and target.startswith("kregs.cli"))
    ]
    assert wrong == []


def test_every_public_function_and_class_is_used_somewhere():
    """Dead code rots: a module-level function or class that no module, bench script, doc
    page or README names (besides its own definition) is removed, not kept."""
    texts = {}
    for path in _python_files(*SOURCE_DIRS, "bench", "docs"):
        with open(os.path.join(REPO, path)) as f:
            texts[path] = f.read()
    for dirpath, _, filenames in os.walk(os.path.join(REPO, "docs")):
        for name in filenames:
            if name.endswith(".md"):
                with open(os.path.join(dirpath, name)) as f:
                    texts[os.path.join(dirpath, name)] = f.read()
    with open(os.path.join(REPO, "README.md")) as f:
        texts["README.md"] = f.read()
    unused = []
    for path in _python_files(*SOURCE_DIRS):
        for node in ast.parse(texts[path]).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name[0] != "_":
                word = re.compile(rf"\b{re.escape(node.name)}\b")
                if sum(len(word.findall(text)) for text in texts.values()) <= 1:
                    unused.append(f"{path}: {node.name}")
    assert not unused, unused
