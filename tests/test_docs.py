"""Every code block of README.md and docs/ that is meant to run, run at its smallest size.

A page's `python` blocks run in one namespace, its `bash` blocks line by line (`kregs ...`
lines, through the command line in this process), in order, in one folder holding the
files the examples name (`my_images/`, `my_data.npz`, `my_model.keras`, `my_models.py`,
`photo.png`) and the runs they use. A block preceded by `<!-- not run: why -->` is not run
(the set-up itself, hours of training, another machine); `text` blocks are output.
"Smallest size": a search runs the smoke preset for 2 one-epoch trials without folds, a
study one seed of one epoch.

Also: every name the docs import from kregs is exported (in `__all__`) and documented.
"""

import ast
import os
import re
import shlex
import shutil

import numpy as np
import pytest
from _helpers import REPO, make_folder
from click.testing import CliRunner

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not run:[^>]*-->\s*$")
RUN = ("python", "bash")
PAGES = ["README.md"] + [
    os.path.join("docs", name)
    for name in (
        "index.md",
        "getting-started.md",
        "data.md",
        "model.md",
        "tuning.md",
        "verdicts.md",
        "deploying.md",
        "distributed.md",
        "backends.md",
        "guarantees.md",
        "cli.md",
        "design.md",
    )
]
SMALLEST = {
    "tune": ["--preset", "smoke", "--max-trials", "2", "--epochs", "1", "--folds", "0"]
    + ["--limit", "600"],
    "study": ["--preset", "smoke", "--seeds", "1", "--epochs", "1", "--limit", "300"],
}
PYTHON_SMALLEST = {
    'preset="quick"': 'preset="smoke", max_trials=2, epochs=1, folds=0, limit=600',
}


def blocks(page):
    """`(language, code)` of the blocks of `page` that run, in order."""
    with open(os.path.join(REPO, page)) as f:
        text = f.read()
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        if match.group(1) in RUN and not (before and NOT_RUN.search(before[-1])):
            found.append((match.group(1), match.group(2)))
    return found


def test_every_page_with_code_has_its_blocks_found():
    assert all(os.path.exists(os.path.join(REPO, page)) for page in PAGES)
    assert len(blocks("README.md")) >= 5  # the five examples
    assert sum(len(blocks(page)) for page in PAGES) >= 20


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """The files the examples name, and the run that the examples of other pages use."""
    import keras

    root = tmp_path_factory.mktemp("docs")
    make_folder(root / "my_images", classes=("cats", "dogs", "owls"), per_class=80)
    rng = np.random.default_rng(0)
    y = np.arange(300) % 3
    x = (rng.integers(0, 30, (300, 12, 10)) + 60 * y[:, None, None]).astype(np.uint8)
    np.savez(root / "my_data.npz", x_train=x, y_train=y, class_names=["cats", "dogs", "owls"])
    inputs = keras.Input((12, 10, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    h = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(h))
    keras.Model(inputs, h).save(root / "my_model.keras")
    (root / "my_models.py").write_text(
        "import keras\n\n\ndef build(input_shape, num_classes):\n"
        "    x = keras.Input(input_shape)\n"
        "    h = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation='relu')(x))\n"
        "    return keras.Model(x, keras.layers.Dense(num_classes, activation='softmax')(h))\n"
    )
    first = sorted(os.listdir(root / "my_images" / "cats"))[0]
    shutil.copy(root / "my_images" / "cats" / first, root / "photo.png")
    for data, out in (("my_images", "runs/my_images"), ("my_data.npz", "runs/my_data")):
        _kregs(root, f"kregs tune --data {data} --output {out}")
    return root


@pytest.mark.parametrize("page", PAGES)
def test_the_code_blocks_of_each_page_run(page, sandbox, monkeypatch):
    """The pages run in one folder, in the order of the site (a run that a page's example
    writes again is the run the folder has: the same command resumes it)."""
    found = blocks(page)
    if not found:
        return
    work = sandbox
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    namespace = {"__name__": "__docs__"}
    for language, code in found:
        if language == "python":
            for old, new in PYTHON_SMALLEST.items():
                code = code.replace(old, new)
            exec(compile(code, f"{page}", "exec"), namespace)  # noqa: S102 - the docs' code
        else:
            for line in code.splitlines():
                line = line.split(" #")[0].strip()
                if line.startswith("kregs "):
                    _kregs(work, line)


def _kregs(cwd, line):
    """Runs one `kregs ...` line at its smallest size through the command line, here."""
    from kregs.cli.main import main

    args = shlex.split(line)[1:]
    args += SMALLEST.get(args[0], [])
    if args[0] == "tune" and "--workers" not in args:
        args += ["--recycle-after", "0"]  # (in this process)
    before = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, args, prog_name="kregs")
    finally:
        os.chdir(before)
    assert result.exit_code == 0, f"{line}\n{result.output[-3000:]}"
    return result


def _imported_names():
    """`(module, name)` of every `from kregs... import name` and `kregs.name` in the docs."""
    found = set()
    for page in PAGES:
        for language, code in blocks(page):
            if language != "python":
                continue
            tree = ast.parse(code)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kregs"):
                    found |= {(node.module, a.name) for a in node.names}
                elif (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "kregs"
                ):
                    found.add(("kregs", node.attr))
    return sorted(found)


def test_every_name_the_docs_use_is_exported_and_documented():
    import importlib

    assert len(_imported_names()) >= 5
    missing = []
    for module_name, name in _imported_names():
        module = importlib.import_module(module_name)
        value = getattr(module, name)
        if name not in getattr(module, "__all__", ()):
            missing.append(f"{module_name}.{name}: not in __all__")
        elif not (getattr(value, "__doc__", None) or "").strip():
            missing.append(f"{module_name}.{name}: no docstring")
    assert missing == []


def test_the_api_page_documents_every_exported_name():
    """`kregs.__all__` and `kregs.tuner.__all__`, on the API reference page (the errors and
    constants under their module's entry)."""
    import kregs
    import kregs.tuner

    with open(os.path.join(REPO, "docs", "api.md")) as f:
        page = f.read()
    documented = set(re.findall(r"^::: ([\w.]+)$", page, re.M))
    leaves = {path.rsplit(".", 1)[-1] for path in documented}
    skipped = {"ARCHITECTURES", "BATCH_NORM_PLACEMENTS", "CONFIG_NAMES", "SEARCH_PRESETS"}
    errors = {n for n in kregs.__all__ if n.endswith("Error")}
    listed = set(kregs.__all__) | set(kregs.tuner.__all__)
    assert "kregs.errors" in documented and sorted(listed - leaves - skipped - errors) == []
