"""Guards for the package layout: tuner/ and cli/ exist only as kregs.tuner and kregs.cli."""

import os
import subprocess
import sys
import zipfile

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest
from _helpers import REPO, run_python

SOURCE_ROOTS = {"kregs": "kregs", "tuner": "kregs.tuner", "cli": "kregs.cli"}


def _pyproject():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _packages_on_disk():
    found = set()
    for folder, dotted in SOURCE_ROOTS.items():
        root = os.path.join(REPO, folder)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            if "__init__.py" in filenames:
                rel = os.path.relpath(dirpath, root)
                found.add(dotted if rel == "." else f"{dotted}.{rel.replace(os.sep, '.')}")
    return found


def test_package_list_matches_every_folder_with_an_init():
    setuptools_cfg = _pyproject()["tool"]["setuptools"]
    assert set(setuptools_cfg["packages"]) == _packages_on_disk()
    assert setuptools_cfg["package-dir"] == {
        "kregs": "kregs",
        "kregs.tuner": "tuner",
        "kregs.cli": "cli",
    }


@pytest.mark.parametrize("name", ["tuner", "cli"])
def test_bare_top_level_names_do_not_import_outside_the_repo(name, tmp_path):
    proc = run_python(f"import {name}", cwd=tmp_path)
    assert proc.returncode != 0
    assert f"No module named '{name}'" in proc.stderr


def test_installed_subpackages_import_from_anywhere(tmp_path):
    proc = run_python(
        "import kregs.tuner, kregs.cli.main, sys; "
        "print(kregs.tuner.__name__, 'tensorflow' in sys.modules)",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["kregs.tuner", "False"]


def test_ruff_refuses_bare_imports_of_mapped_folders(tmp_path):
    """The project's ruff configuration flags `import tuner` (it only exists as kregs.tuner)."""
    code = "import tuner\nfrom cli import main\nfrom kregs.tuner import tune\n"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--config",
            os.path.join(REPO, "pyproject.toml"),
            "--output-format",
            "concise",
            "--select",
            "TID251",
            "--stdin-filename",
            "example.py",
            "-",
        ],
        input=code,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    flagged = sorted(line.split(":")[1] for line in proc.stdout.splitlines() if "TID251" in line)
    # example.py:1:8: TID251 `tuner` is banned ...
    assert flagged == ["1", "2"]  # the two bare imports, not kregs.tuner


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel pip builds from the tracked files of this checkout, in an isolated build
    environment with the build requirements pyproject.toml names (never the interpreter's
    own setuptools), from a copy (an in-tree build/ would carry files deleted since)."""
    import shutil

    source = tmp_path_factory.mktemp("source")
    tracked = (
        subprocess.run(
            ["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, tracked):
        if os.path.isfile(os.path.join(REPO, rel)):
            os.makedirs(source / os.path.dirname(rel), exist_ok=True)
            shutil.copy2(os.path.join(REPO, rel), source / rel)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("kregs-*.whl")
    return path


def test_wheel_holds_nothing_outside_kregs(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"kregs", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    modules = {n for n in names if n.endswith(".py")}
    expected = set()
    for folder, dotted in SOURCE_ROOTS.items():
        for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, folder)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            rel = os.path.relpath(dirpath, os.path.join(REPO, folder))
            prefix = dotted.replace(".", "/") + ("" if rel == "." else "/" + rel)
            expected |= {f"{prefix}/{f}" for f in filenames if f.endswith(".py")}
    assert modules == expected  # every module, and nothing stale


def test_installed_wheel_works_from_anywhere(wheel_venv, tmp_path):
    """`pip install kregs.whl` in a fresh venv: the command, the subpackages, a model round trip."""
    py, target = wheel_venv
    code = (
        "import kregs, kregs.tuner, kregs.cli.main, kregs.run.budget, kregs.tuner.budget\n"
        "import kregs.tuner.distributed\n"
        "import keras\n"
        "m = kregs.build_model((8, 8, 1), 3, kregs.RegConfig(l2=0.1, dropout=0.2))\n"
        "m.save('m.keras')\n"
        "back = keras.models.load_model('m.keras', safe_mode=True)\n"
        "print(kregs.__file__, len(back.losses))\n"
    )
    proc = run_python(code, cwd=tmp_path, python=py)
    assert proc.returncode == 0, proc.stderr[-3000:]
    where, losses = proc.stdout.split()
    assert where.startswith(target) and losses == "6"
    cli = subprocess.run(
        [py, "-m", "kregs", "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert cli.returncode == 0 and "tune" in cli.stdout, cli.stderr


@pytest.fixture(scope="module")
def wheel_venv(wheel, tmp_path_factory):
    """A venv whose kregs is the wheel's (no editable install, no source folder on its path)."""
    import site

    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    target = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies come from this interpreter's site-packages (a plain path: its .pth
    # files, the editable kregs among them, are not processed); kregs from the wheel only.
    with open(os.path.join(target, "deps.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, str(wheel)],
        check=True,
    )
    return py, target


def test_tune_from_a_source_checkout_runs_its_children_on_the_installed_kregs(wheel_venv, tmp_path):
    """`pip install .`, then `kregs tune` in the checkout's root (as README's Backends section
    says): the search's child processes must import the installed kregs, not the folder
    kregs/ (which has no cli/) that `python -m` would put first on their path."""
    from _helpers import write_idx_dataset

    py, _ = wheel_venv
    write_idx_dataset(tmp_path / "data", n_train=200, n_test=20)
    console_script = "from kregs.cli.main import main; main(prog_name='kregs')"  # as pip's
    args = [
        "tune",
        "--folds",
        "0",
        "--dataset",
        "mnist",
        "--data-dir",
        str(tmp_path / "data"),
        "--arch",
        "mlp",
        "--max-trials",
        "1",
        "--epochs",
        "1",
        "--no-refit",
        "--quiet",
        "--output",
        str(tmp_path / "run"),
    ]
    proc = subprocess.run(
        [py, "-I", "-c", console_script, *args],  # -I: no current folder on the path
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "No module named 'kregs.cli'" not in proc.stderr
    assert (tmp_path / "run" / "trials.csv").exists()
