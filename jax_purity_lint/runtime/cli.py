"""`jax-purity-lint confirm PATH...`: the runtime checker's subcommand.

The main CLI calls ``register(subparsers)``; ``python -m jax_purity_lint.runtime confirm ...`` builds
the same subcommand on a parser of its own.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from ..surfaces.config import ConfigError
from ..surfaces.project import Project, add_configuration_arguments

EXIT_NONE_CONFIRMED = 0
EXIT_CONFIRMED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    confirm = subparsers.add_parser(
        "confirm",
        help="run each diagnosed module eagerly and jitted, and confirm or refute every diagnosis",
        description=(
            "For every diagnosis, run the module in fresh sandboxed interpreters under jax.disable_jit() and jitted, "
            "compare the results, and attribute any difference by switching the diagnosis's trace site off. "
            "Exit status 1 when any diagnosis is confirmed."
        ),
    )
    confirm.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    confirm.add_argument("--format", choices=("text", "json"), default="text")
    confirm.add_argument("-j", "--jobs", type=int, default=1, help="files run in parallel (default 1)")
    confirm.add_argument("--timeout", type=_positive_float, default=60.0, metavar="S", help="wall-clock seconds per run (default 60)")
    confirm.add_argument("--memory-limit", type=int, default=6144, metavar="MB", help="address-space limit per run, 0 for none (default 6144)")
    confirm.add_argument("--include-clean", action="store_true", help="also run modules without diagnoses and say whether they agree")
    confirm.add_argument("--always-rerun-eager", action="store_true", help="always run eager twice to check determinism")
    confirm.add_argument(
        "--cold-start",
        action="store_true",
        help="start every run in a new interpreter (slower: by default each run is forked from one that has imported JAX)",
    )
    confirm.add_argument(
        "--args", default="", metavar="ARGS",
        help='the command-line arguments a script (a module with `if __name__ == "__main__":`) is run with, as one string',
    )
    confirm.add_argument(
        "--pytest", metavar="TEST_ARGS", default=None,
        help="drive the diagnosed files through your own tests: what pytest is given, as one string "
        '(run from the current folder), e.g. --pytest "tests -k train"',
    )
    confirm.add_argument("-v", "--verbose", action="store_true", help="text format: list every run and note")
    # The configuration `check` reads: confirm runs what `check` reports, and skips what it excludes.
    add_configuration_arguments(confirm)
    confirm.set_defaults(handler=run)
    return confirm


def run(args: argparse.Namespace) -> int:
    from .confirm import ConfirmOptions, confirm_paths
    from .report import ProgressBar, render_json, render_text

    missing = [path for path in args.paths if not os.path.exists(path)]
    if missing:
        print(f"jax-purity-lint: error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        from ..engine import analyse_file
    except ImportError as error:
        print(f"jax-purity-lint: error: the static analysis is not available: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        project = Project.from_arguments(args)
    except ConfigError as error:
        return _configuration_error(error)
    progress = ProgressBar()
    options = ConfirmOptions(
        jobs=max(1, args.jobs),
        timeout=args.timeout,
        memory_mb=args.memory_limit or None,
        include_clean=args.include_clean,
        always_rerun_eager=args.always_rerun_eager,
        warm_start=not args.cold_start,
        script_args=tuple(shlex.split(args.args)),
        pytest_args=None if args.pytest is None else tuple(shlex.split(args.pytest)),
        on_run_started=progress.run_started,
        on_run_finished=progress.run_finished,
    )
    try:
        report = confirm_paths(
            args.paths, options, analyzer=analyse_file, on_file_done=progress.update, project=project
        )
    except ConfigError as error:  # a pyproject.toml found for one of the files
        progress.close()
        return _configuration_error(error)
    except KeyboardInterrupt:
        progress.close()
        print("jax-purity-lint: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    progress.close()
    sys.stdout.write(render_json(report) if args.format == "json" else render_text(report, verbose=args.verbose))
    return EXIT_CONFIRMED if report.any_confirmed else EXIT_NONE_CONFIRMED


def _configuration_error(error: ConfigError) -> int:
    print(f"jax-purity-lint: error: {error}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jax_purity_lint.runtime")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)
