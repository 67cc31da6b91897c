"""What a user installs: `python -m build` makes an sdist and a wheel (the wheel built from the sdist,
so the sdist is complete), and the wheel, installed into a fresh virtual environment, gives a working
`jax-purity-lint check` and flake8 plugin on the shipped example."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "seed_bugs.py"
SHIPPED = ["pyproject.toml", "setup.cfg", "README.md", "jax_purity_lint"]


def run(*command, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    pytest.importorskip("build")
    source = tmp_path_factory.mktemp("source")  # a copy: building writes egg-info and build/ next to it
    for name in SHIPPED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    built = run(sys.executable, "-m", "build", "--outdir", out, source, cwd=source)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    assert "deprecated" not in built.stdout + built.stderr
    return out


def test_the_sdist_and_the_wheel_are_built_with_the_one_version(dist):
    from jax_purity_lint import __version__

    names = sorted(path.name for path in dist.iterdir())
    assert names == [f"jax_purity_lint-{__version__}-py3-none-any.whl", f"jax_purity_lint-{__version__}.tar.gz"]


def test_the_wheel_in_a_fresh_venv_runs_check_and_the_flake8_plugin(dist, tmp_path):
    environment = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(environment)
    python = environment / "bin" / "python"
    (wheel,) = dist.glob("*.whl")
    installed = run(python, "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-2000:]
    where = run(python, "-c", "import jax_purity_lint; print(jax_purity_lint.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(environment)), where.stdout  # the wheel's copy, not the checkout
    checked = run(environment / "bin" / "jax-purity-lint", "check", EXAMPLE, cwd=tmp_path)
    assert checked.returncode == 1
    assert [line.split(" ")[1] for line in checked.stdout.splitlines()] == ["JPL100", "JPL200"]
    linted = run(environment / "bin" / "flake8", "--select", "JPL", EXAMPLE, cwd=tmp_path)
    assert linted.returncode == 1
    assert [line.split(" ")[1] for line in linted.stdout.splitlines()] == ["JPL100", "JPL200"]
