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


def test_console_script_and_python_floor():
    project = _pyproject()["project"]
    assert project["scripts"] == {"kregs": "kregs.cli.main:main"}
    assert project["requires-python"] == ">=3.10"


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


def test_ruff_bans_bare_imports_of_mapped_folders():
    banned = _pyproject()["tool"]["ruff"]["lint"]["flake8-tidy-imports"]
    assert set(banned["banned-api"]) == {"tuner", "cli"}
    assert banned["ban-relative-imports"] == "all"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            REPO,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("kregs-*.whl")
    return path


def test_wheel_holds_nothing_outside_kregs(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"kregs", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    for expected in ["kregs/__init__.py", "kregs/tuner/__init__.py", "kregs/cli/main.py"]:
        assert expected in names


def test_core_tests_pass_against_the_installed_wheel(wheel, tmp_path):
    """`pip install .` (a real wheel in a fresh venv) passes the core tests, run from elsewhere."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    where = subprocess.run(
        [py, "-c", "import kregs.tuner; print(kregs.tuner.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), where
    tests = [
        os.path.join(REPO, "tests", t)
        for t in ("test_config.py", "test_regularizers.py", "test_layers.py", "test_saving.py")
    ]
    proc = subprocess.run(
        [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", REPO, *tests],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
