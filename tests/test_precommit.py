"""The real `pre-commit try-repo <this checkout> jax-purity-lint` in a temporary git repository: the
hook fails on a file with a trace-time bug and passes once the file is fixed.

pre-commit builds the hook's environment by pip-installing this checkout (it needs PyPI). try-repo
keeps its store in a fresh temporary folder for each call, whatever PRE_COMMIT_HOME says, so the two
calls below build it twice; pip's cache makes the second build quick. PRE_COMMIT_HOME still points
into tmp_path so that nothing is written to the user's cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOOK = "jax-purity-lint"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")

BAD = '''import jax

g = 0.0


def impure_uses_global(x):
    return x + g


fast = jax.jit(impure_uses_global)
fast(1.0)
g = 10.0
'''

FIXED = '''import jax

g = 0.0


def uses_argument(x, g):
    return x + g


fast = jax.jit(uses_argument)
fast(1.0)
g = 10.0
'''


def git(*args: str, cwd: Path) -> str:
    identity = ("-c", "user.name=jpl tests", "-c", "user.email=tests@example.invalid", "-c", "commit.gpgsign=false")
    result = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout


def untracked_files(checkout: Path) -> list[str]:
    """Files git would add that are not committed yet (read-only: the checkout's index is left alone)."""
    return git("ls-files", "--others", "--exclude-standard", cwd=checkout).split()


def snapshot(checkout: Path, destination: Path) -> Path:
    """The checkout's working tree, untracked files included, committed in a repository of its own."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=checkout).split("\0")
    for relative in filter(None, listed):
        source = checkout / relative
        if source.is_file():  # a tracked file deleted in the working tree is left out
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git("init", "--quiet", cwd=destination)
    git("add", "--all", cwd=destination)
    git("commit", "--quiet", "--message", "snapshot of the checkout under test", cwd=destination)
    return destination


def repository_under_test(tmp_path: Path) -> Path:
    """This checkout, for try-repo. try-repo carries tracked uncommitted changes over by itself (a
    shadow clone with `git add -u`), but not untracked files, such as a new hook or module not yet
    committed: then the hook would be tested without them, so a committed snapshot is used instead.
    In a clean clone (CI) this is the checkout itself."""
    if not untracked_files(ROOT):
        return ROOT
    return snapshot(ROOT, tmp_path / "checkout-snapshot")


@pytest.fixture
def user_repository(tmp_path: Path) -> Path:
    repository = tmp_path / "user-project"
    repository.mkdir()
    git("init", "--quiet", cwd=repository)
    return repository


def try_repo(under_test: Path, user_repository: Path, *files: str, home: Path) -> subprocess.CompletedProcess:
    git("add", "--all", cwd=user_repository)
    environment = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(under_test), HOOK, "--verbose", "--files", *files],
        cwd=user_repository,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_hook_fails_on_the_bad_file_and_passes_once_it_is_fixed(tmp_path, user_repository):
    under_test = repository_under_test(tmp_path)
    home = tmp_path / "pre-commit-home"
    (user_repository / "train.py").write_text(BAD)

    failing = try_repo(under_test, user_repository, "train.py", home=home)
    output = failing.stdout + failing.stderr
    assert failing.returncode == 1, output
    assert "train.py:7:16: JPL100" in output  # the hook's own output, shown by pre-commit
    assert "Failed" in output

    (user_repository / "train.py").write_text(FIXED)
    passing = try_repo(under_test, user_repository, "train.py", home=home)
    output = passing.stdout + passing.stderr
    assert passing.returncode == 0, output
    assert "Passed" in output and "JPL" not in output.replace("jax-purity-lint", "")
