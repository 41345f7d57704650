"""MkDocs hooks: the pages drawn from the code and the results, made at build time.

- `benchmarks.md`: bench/report.py's rendering of bench/results/*.json (BENCHMARKS.md's
  text, never copied by hand);
- `cli.md`: every command's `--help`, as click prints it;
- `design.md`: the layers and rooms of kregs, from the imports of its modules;
- `changelog.md`: CHANGELOG.md;
- `images/study-*.png`: the plots of the example study in examples/ (a real run), served
  as they are, not copied into docs/.

A page holds a marker `<!-- generated: NAME -->` where the generated text goes.
"""

import ast
import collections
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MARKER = re.compile(r"<!-- generated: (\w+) -->")


def lay_out_the_package():
    """Lays kregs out as it is installed (tuner/ as kregs/tuner, cli/ as kregs/cli) in
    build/api/, a copy, for mkdocstrings to read (mkdocs.yml's `paths`). Done when this
    module is loaded: before mkdocstrings looks for its paths."""
    root = os.path.join(REPO, "build", "api", "kregs")
    if os.path.isdir(root):
        shutil.rmtree(os.path.dirname(root))
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(os.path.join(REPO, "kregs"), root, ignore=skip)
    for folder in ("tuner", "cli"):
        shutil.copytree(os.path.join(REPO, folder), os.path.join(root, folder), ignore=skip)


lay_out_the_package()


# The example study's plots the docs show: docs path -> file in the repository.
EXAMPLE_PLOTS = {
    f"images/study-{name}.png": os.path.join(REPO, "examples", "study-fashion-mnist", path)
    for name, path in {
        "test_accuracy": "overfit/plots/test_accuracy.png",
        "learning_curves": "overfit/plots/learning_curves.png",
        "sweep-l2": "sweep/plots/sweep-l2.png",
    }.items()
}


def on_files(files, config):
    """Adds the example study's plots to the site (`EXAMPLE_PLOTS`)."""
    from mkdocs.structure.files import File

    for uri, path in EXAMPLE_PLOTS.items():
        files.append(File.generated(config, uri, abs_src_path=path))
    return files


def on_page_markdown(markdown, page, config, files):
    """Replaces each marker with its generated text."""
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)


def benchmarks():
    sys.path.insert(0, os.path.join(REPO, "bench"))
    import report

    text = report.render(os.path.join(REPO, "bench", "results"))
    lines = text.splitlines()
    body = lines[1:] if lines and lines[0].startswith("# ") else lines
    return "\n".join(body).replace("](BENCHMARKS.md", "](benchmarks.md")


def cli():
    from click.testing import CliRunner

    from kregs.cli.main import main

    out = []
    names = [None, *sorted(main.commands)]
    for name in names:
        args = [name, "--help"] if name else ["--help"]
        text = CliRunner().invoke(main, args, prog_name="kregs", terminal_width=100).output
        out += [f"## kregs {name or ''}".rstrip(), "", "```text", text.rstrip(), "```", ""]
    return "\n".join(out)


LAYERS = {"kregs.cli": "interface", "kregs.tuner": "search"}


def design():
    """A mermaid diagram of kregs' rooms (a package, or a module at the top) and the
    imports between them, in three layers: library <- search <- interface."""
    modules = _modules()
    edges = collections.defaultdict(set)
    for module, path in modules.items():
        for target in _imports(module, path, modules):
            a, b = _room(module), _room(target)
            if a != b and "__main__" not in (a, b) and b != "kregs":
                edges[a].add(b)
    rooms = sorted({_room(m) for m in modules} - {"kregs", "kregs.__main__"})
    lines = ["```mermaid", "flowchart BT"]
    for layer in ("library", "search", "interface"):
        lines.append(f"  subgraph {layer}")
        for room in rooms:
            if _layer(room) == layer:
                lines.append(f"    {_id(room)}[{room}]")
        lines.append("  end")
    for a in sorted(edges):
        for b in sorted(edges[a]):
            if _layer(a) != _layer(b):  # (within a layer: the table below)
                lines.append(f"  {_id(a)} --> {_id(b)}")
    lines += ["```", "", "| room | imports (same layer) |", "|---|---|"]
    for room in rooms:
        same = sorted(b for b in edges[room] if _layer(b) == _layer(room))
        lines.append(f"| `{room}` | {', '.join(f'`{b}`' for b in same) or '-'} |")
    return "\n".join(lines)


def _layer(room):
    return next((name for prefix, name in LAYERS.items() if room.startswith(prefix)), "library")


def _id(room):
    return room.replace(".", "_")


def _modules():
    packages = {"kregs": "kregs", "tuner": "kregs.tuner", "cli": "kregs.cli"}
    found = {}
    for folder, package in packages.items():
        for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, folder)):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
            for name in filenames:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(dirpath, name), os.path.join(REPO, folder))
                    parts = [package, *rel[:-3].split(os.sep)]
                    if parts[-1] == "__init__":
                        parts.pop()
                    found[".".join(parts)] = os.path.join(dirpath, name)
    return found


def _imports(module, path, modules):
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                for a in node.names
            ]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name


def _room(module):
    parts = module.split(".")
    if parts[:2] in (["kregs", "tuner"], ["kregs", "cli"]):
        return ".".join(parts[:3]) if len(parts) > 3 else ".".join(parts[:2])
    return ".".join(parts[:2])


def changelog():
    with open(os.path.join(REPO, "CHANGELOG.md")) as f:
        lines = f.read().splitlines()
    return "\n".join(lines[1:] if lines and lines[0].startswith("# ") else lines)


GENERATORS = {"benchmarks": benchmarks, "cli": cli, "design": design, "changelog": changelog}
