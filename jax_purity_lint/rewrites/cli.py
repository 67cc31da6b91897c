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
    fix.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders (.py)")
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
    from . import fix_source
    from .diffs import unified_diff
    from .project import imported_elsewhere
    from .writer import RefusedWrite, SourceFile, write_rewrite

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
        files = [path for path in discover(args.paths, project.exclusions_in) if path.suffix == ".py"]
        configs = {path: project.config_for(path) for path in files}
    except ConfigError as error:
        print(f"jax-purity-lint: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    status = EXIT_CLEAN
    report = _Report(quiet=args.quiet)
    imported = imported_elsewhere(files)
    for path in files:
        config = configs[path]
        try:
            source = SourceFile.read(path)
        except (OSError, SyntaxError, UnicodeDecodeError) as error:
            report.error(path, f"cannot read it: {error}")
            status = EXIT_ERROR
            continue
        include_unsafe = args.unsafe or (args.diff and not args.safe_only)
        others = imported.get(path, frozenset())
        fixed = fix_source(
            source.text, str(path), unsafe=include_unsafe, imported_elsewhere=others,
            settings=config.settings, wanted=lambda d: config.enabled(d.code),
        )
        if fixed.error:
            report.error(path, fixed.error)
            status = max(status, EXIT_LEFT)
            continue
        if args.diff:
            diff = unified_diff(str(path), source.text, fixed.rewritten)
            if diff:
                sys.stdout.write(diff)
                status = max(status, EXIT_LEFT)
            report.rewrites(path, fixed.rewrites, written=False)
            continue
        if fixed.changed:
            try:
                write_rewrite(source, fixed.rewritten)
            except (RefusedWrite, OSError) as error:
                report.error(path, str(error))
                status = EXIT_ERROR
                continue
        report.rewrites(path, fixed.rewrites, written=True)
        if any(not r.applied for r in fixed.rewrites):
            status = max(status, EXIT_LEFT)
    report.finish()
    return status


class _Report:
    """A line per file on stderr: what was rewritten, and what still needs review and why."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.applied = 0
        self.left = 0

    def error(self, path: Path, message: str) -> None:
        print(f"{path}: error: {message}", file=sys.stderr)

    def rewrites(self, path: Path, rewrites, written: bool) -> None:
        for rewrite in rewrites:
            if rewrite.applied and written:
                self.applied += 1
                self._say(f"{path}:{rewrite.line}: fixed {'/'.join(rewrite.codes)}: {rewrite.summary}")
            elif not rewrite.applied or not written:
                if not rewrite.safe:
                    self.left += 1
                reason = "; ".join(rewrite.problems) if rewrite.problems else "safe"
                verdict = "safe" if rewrite.safe else "needs review"
                self._say(f"{path}:{rewrite.line}: {'/'.join(rewrite.codes)} ({verdict}): {rewrite.summary}"
                          + (f" -- {reason}" if not rewrite.safe else ""))

    def finish(self) -> None:
        if self.applied or self.left:
            self._say(f"{self.applied} rewrite(s) applied, {self.left} need review (see `jax-purity-lint fix --diff`)")

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr)
