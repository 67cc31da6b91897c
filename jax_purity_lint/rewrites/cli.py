"""`jax-purity-lint fix PATH...`: apply the safe explicit-state rewrites; `--diff` shows them all instead.

    jax-purity-lint fix --diff src/        # every rewrite, unsafe ones with a comment saying what to check
    jax-purity-lint fix src/               # writes the safe ones
    jax-purity-lint fix --unsafe src/      # writes them all, with their comments

Exit status: 0 nothing (left) to do; 1 a diff was shown, or rewrites that need review remain;
2 a usage error or a file that could not be read or written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_CLEAN, EXIT_LEFT, EXIT_ERROR = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    fix = subparsers.add_parser(
        "fix",
        help="rewrite the diagnosed code to pass its state explicitly (safe rewrites only, or --diff)",
        description=(
            "Rewrite each diagnosis into explicit state: globals and attributes become arguments, "
            "changed state is returned with the output, `print` becomes `jax.debug.print`. Only rewrites "
            "verified safe are written; --diff prints all of them, the others with a comment saying what to check."
        ),
    )
    fix.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders (.py, .ipynb)")
    fix.add_argument("--diff", action="store_true", help="print a unified diff of every rewrite; write nothing")
    fix.add_argument("--safe-only", action="store_true", help="with --diff: only what `fix` would write")
    fix.add_argument(
        "--unsafe", action="store_true", help="also write the rewrites that need review, with their comments"
    )
    fix.add_argument("--select", type=_codes, help="comma-separated codes or prefixes to rewrite")
    fix.add_argument("--ignore", type=_codes, help="comma-separated codes or prefixes to leave alone")
    fix.add_argument("--exclude", type=_patterns, help="glob patterns to skip")
    fix.add_argument("--extend-exclude", type=_patterns)
    fix.add_argument("--config", type=Path, help="pyproject.toml to read (default: the nearest one)")
    fix.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    fix.set_defaults(handler=run)
    return fix


def _codes(value: str) -> list[str]:
    return [code.strip().upper() for code in value.split(",") if code.strip()]


def _patterns(value: str) -> list[str]:
    return [pattern for pattern in value.split(",") if pattern]


def run(args: argparse.Namespace) -> int:
    from ..surfaces.config import ConfigError
    from ..surfaces.files import discover
    from ..surfaces.project import Project
    from .project import imported_elsewhere

    try:
        project = Project.from_arguments(args)
    except ConfigError as error:
        print(f"jax-purity-lint: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        print(f"jax-purity-lint: error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_ERROR
    try:  # each file under its own project's configuration, as `check` reads it
        files = [path for path in discover(args.paths, project.exclusions_in) if path.suffix in (".py", ".ipynb")]
        configs = {path: project.config_for(path) for path in files}
    except ConfigError as error:
        print(f"jax-purity-lint: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    report = _Report(quiet=args.quiet)
    imported = imported_elsewhere([path for path in files if path.suffix == ".py"])
    status = EXIT_CLEAN
    for path in files:
        fixer = _fix_notebook if path.suffix == ".ipynb" else _fix_module
        status = max(status, fixer(path, configs[path], args, imported.get(path, frozenset()), report))
    report.finish()
    return status


def _fix_module(path: Path, config, args: argparse.Namespace, others: frozenset[str], report: "_Report") -> int:
    from .diffs import unified_diff
    from .writer import RefusedWrite, SourceFile, write_rewrite

    try:
        source = SourceFile.read(path)
    except (OSError, SyntaxError, UnicodeDecodeError) as error:
        report.error(path, f"cannot read it: {error}")
        return EXIT_ERROR
    fixed = _rewrite(source.text, path, config, args, imported_elsewhere=others)
    if fixed.error:
        report.error(path, fixed.error)
        return EXIT_LEFT
    if args.diff:
        diff = unified_diff(str(path), source.text, fixed.rewritten)
        sys.stdout.write(diff)
        report.rewrites(path, fixed.rewrites, written=False, where=str)
        return EXIT_LEFT if diff else EXIT_CLEAN
    if fixed.changed:
        try:
            write_rewrite(source, fixed.rewritten)
        except (RefusedWrite, OSError) as error:
            report.error(path, str(error))
            return EXIT_ERROR
    report.rewrites(path, fixed.rewrites, written=True, where=str)
    return _status_after_writing(fixed)


def _fix_notebook(path: Path, config, args: argparse.Namespace, others: frozenset[str], report: "_Report") -> int:
    """The code cells as one module, rewritten like a file, then put back into their cells."""
    from .diffs import unified_diff
    from .notebooks import CannotWriteBack, EditableNotebook, NotPythonNotebook
    from .writer import RefusedWrite, replace_file

    try:
        notebook = EditableNotebook.read(path)
    except NotPythonNotebook:
        return EXIT_CLEAN  # an R or Julia notebook: `check` skips it too
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as error:
        report.error(path, f"cannot read the notebook: {error}")
        return EXIT_ERROR
    except RecursionError:
        report.error(path, "cannot read the notebook: its JSON is nested too deeply")
        return EXIT_ERROR
    fixed = _rewrite(notebook.text, path, config, args, place=notebook.place)
    if fixed.error:
        report.error(path, fixed.error)
        return EXIT_LEFT

    def where(line: int) -> str:
        origin = notebook.origin(line)
        return f"cell {origin[0]}:line {origin[1]}" if origin else str(line)

    try:
        if args.diff:
            changes = notebook.cell_changes(fixed.rewritten)
            for cell, before, after in changes:
                sys.stdout.write(unified_diff(f"{path}:cell {cell}", before, after))
            report.rewrites(path, fixed.rewrites, written=False, where=where, notebook=True)
            return EXIT_LEFT if changes else EXIT_CLEAN
        if fixed.changed:
            replace_file(path, notebook.raw, notebook.rewritten(fixed.rewritten))
    except CannotWriteBack as error:
        report.error(path, f"cannot put the rewrite back into the cells ({error}); the notebook is left unchanged")
        return EXIT_ERROR
    except (RefusedWrite, OSError) as error:
        report.error(path, str(error))
        return EXIT_ERROR
    report.rewrites(path, fixed.rewrites, written=True, where=where, notebook=True)
    return _status_after_writing(fixed)


def _rewrite(text: str, path: Path, config, args: argparse.Namespace, **options):
    """The text's rewrites under the file's configuration: all of them for --diff and --unsafe."""
    from . import fix_source

    return fix_source(
        text, str(path), unsafe=args.unsafe or (args.diff and not args.safe_only),
        settings=config.settings, wanted=lambda d: config.enabled(d.code), **options,
    )


def _status_after_writing(fixed) -> int:
    return EXIT_LEFT if any(not r.applied for r in fixed.rewrites) else EXIT_CLEAN


class _Report:
    """A line per rewrite on stderr: what was rewritten, and what still needs review and why; then a total
    that counts files and notebooks."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.applied = 0
        self.left = 0
        self.files: set[Path] = set()
        self.notebooks: set[Path] = set()

    def error(self, path: Path, message: str) -> None:
        print(f"{path}: error: {message}", file=sys.stderr)

    def rewrites(self, path: Path, rewrites, written: bool, where, notebook: bool = False) -> None:
        for rewrite in rewrites:
            if rewrite.applied and written:
                self.applied += 1
                (self.notebooks if notebook else self.files).add(path)
                self._say(f"{path}:{where(rewrite.line)}: fixed {'/'.join(rewrite.codes)}: {rewrite.summary}")
            else:
                if not rewrite.safe:
                    self.left += 1
                reason = "; ".join(rewrite.problems) if rewrite.problems else "safe"
                verdict = "safe" if rewrite.safe else "needs review"
                self._say(f"{path}:{where(rewrite.line)}: {'/'.join(rewrite.codes)} ({verdict}): {rewrite.summary}"
                          + (f" -- {reason}" if not rewrite.safe else ""))

    def finish(self) -> None:
        if self.applied or self.left:
            written = _count(len(self.files), "file") + (
                f" and {_count(len(self.notebooks), 'notebook')}" if self.notebooks else ""
            )
            self._say(f"{self.applied} rewrite(s) applied in {written}, {self.left} need review"
                      " (see `jax-purity-lint fix --diff`)")

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
