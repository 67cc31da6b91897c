#!/usr/bin/env python3
"""Lint real JAX code with jax-purity-lint and check every flag against the triage table.

One command, from a clean checkout (Python 3.11; only PyPI is needed):

    python3 scripts/real_world.py

What it does, all under build/real-world/ (gitignored; `--workdir` to move it):

1. creates a virtual environment there and pip-installs the corpus at the pinned versions below,
   plus this checkout (editable, so a rerun lints with the analysis as it is now);
2. downloads the corpus's *source distributions* from PyPI (`pip download --no-binary :all: --no-deps`)
   and unpacks them: their `examples/` folders are linted too (only flax and dm-haiku ship one);
   with `--extended` (the default) also the rest of the flax sdist that is user-style JAX code:
   its docs notebooks (`docs/`, `docs_nnx/`), `benchmarks/` and `tests/`;
3. runs `jax-purity-lint check ... --format json -j N` on all of it;
4. prints the flags per code and per package, writes them all to build/real-world/flags.json;
5. matches every flag against docs/real-world-triage.csv (file:line, code, verdict, reason) and prints
   the precision, the flags nobody has triaged yet and the triaged rows that are no longer flagged.

Exit status: 0, or 1 with `--check-triage` when a flag is not in the triage table.
Rerun quickly after an analysis change with `--skip-install` (keeps the venv and the unpacked sdists).

The development corpus (public repositories that are not on PyPI as source: research code, RL,
physics, probabilistic programming, tutorial notebooks) is linted from local copies instead:

    python3 scripts/real_world.py --repos DIR

where DIR holds one folder per repository of docs/real-world-repos.csv, named `owner+name`, checked
out at the commit the table records. Nothing is installed: the checkout's own package is run with
this interpreter, and the flags are matched against the same triage table.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Iterable, Optional

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = REPO / "build" / "real-world"
TRIAGE = REPO / "docs" / "real-world-triage.csv"
REPOSITORIES = REPO / "docs" / "real-world-repos.csv"  # the development corpus: repo, commit, kind

# What `pip install jax flax optax equinox chex brax dm-haiku` gave on Python 3.11 (Linux x86-64).
PINS = {
    "jax": "0.10.2",
    "jaxlib": "0.10.2",
    "flax": "0.12.8",
    "optax": "0.2.8",
    "equinox": "0.13.8",
    "chex": "0.1.92",
    "brax": "0.14.2",
    "dm-haiku": "0.0.17",
}
# Distribution -> the import package(s) whose installed source is linted (jaxlib is compiled: not linted).
INSTALLED = {
    "jax": ["jax"],
    "flax": ["flax"],
    "optax": ["optax"],
    "equinox": ["equinox"],
    "chex": ["chex"],
    "brax": ["brax"],
    "dm-haiku": ["haiku"],
}
# Extra folders of an sdist linted with --extended (user-style JAX code that is not an examples/ folder).
EXTENDED = {"flax": ["docs", "docs_nnx", "benchmarks", "tests"]}
LINTED_SUFFIXES = (".py", ".ipynb")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    log("$ " + " ".join(str(c) for c in command))
    return subprocess.run(command, check=True, **kwargs)


# -- 1. the environment ---------------------------------------------------------------------------


def venv_python(workdir: Path) -> Path:
    return workdir / "venv" / "bin" / "python"


def install(workdir: Path) -> None:
    python = venv_python(workdir)
    if not python.exists():
        run([sys.executable, "-m", "venv", str(workdir / "venv")])
    run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    pins = [f"{name}=={version}" for name, version in PINS.items()]
    # brax and dm-haiku are installed with their dependencies like the rest: if one fails to install,
    # that is recorded and the others go on.
    failed = []
    try:
        run([str(python), "-m", "pip", "install", "--quiet", *pins])
    except subprocess.CalledProcessError:
        log("installing everything at once failed; trying one distribution at a time")
        for pin in pins:
            try:
                run([str(python), "-m", "pip", "install", "--quiet", pin])
            except subprocess.CalledProcessError:
                failed.append(pin)
    run([str(python), "-m", "pip", "install", "--quiet", "-e", str(REPO)])
    (workdir / "install-failures.json").write_text(json.dumps(failed))


def installed_versions(workdir: Path) -> dict[str, Optional[str]]:
    code = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        f"for name in {list(PINS)!r}:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: out[name] = None\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run([str(venv_python(workdir)), "-c", code], check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def site_packages(workdir: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    result = subprocess.run([str(venv_python(workdir)), "-c", code], check=True, capture_output=True, text=True)
    return Path(result.stdout.strip())


# -- 2. the source distributions ------------------------------------------------------------------


def fetch_sdists(workdir: Path) -> dict[str, Optional[Path]]:
    """Distribution -> its unpacked sdist folder (None if it could not be had)."""
    archives, unpacked = workdir / "sdist", workdir / "src"
    archives.mkdir(parents=True, exist_ok=True)
    unpacked.mkdir(parents=True, exist_ok=True)
    found: dict[str, Optional[Path]] = {}
    for name in INSTALLED:
        stem = f"{name.replace('-', '_')}-{PINS[name]}"
        folder = unpacked / stem
        if not folder.is_dir():
            archive = archives / f"{stem}.tar.gz"
            if not archive.exists():
                try:
                    run([str(venv_python(workdir)), "-m", "pip", "download", "--quiet", "--no-binary", ":all:",
                         "--no-deps", "-d", str(archives), f"{name}=={PINS[name]}"])
                except subprocess.CalledProcessError:
                    log(f"no sdist for {name}=={PINS[name]}")
                    found[name] = None
                    continue
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(unpacked, filter="data")
                else:  # Python < 3.11.4
                    tar.extractall(unpacked)
        found[name] = folder if folder.is_dir() else None
    return found


# -- 3. the corpus --------------------------------------------------------------------------------


def corpus(workdir: Path, sdists: dict[str, Optional[Path]], extended: bool) -> list[dict[str, Any]]:
    """The groups linted: label, tier, folder, and where its paths are reported from."""
    groups = []
    packages = site_packages(workdir)
    for name, modules in INSTALLED.items():
        for module in modules:
            folder = packages / module
            if folder.is_dir():
                groups.append({"label": module, "tier": "installed", "path": folder, "root": packages,
                               "distribution": name})
    for name, folder in sdists.items():
        if folder is None:
            continue
        label = name.replace("dm-", "")
        if (folder / "examples").is_dir():
            groups.append({"label": f"{label}-examples", "tier": "sdist examples", "path": folder / "examples",
                           "root": folder.parent, "distribution": name})
        if extended:
            for extra in EXTENDED.get(name, []):
                if (folder / extra).is_dir():
                    groups.append({"label": f"{label}-{extra}", "tier": "sdist extended", "path": folder / extra,
                                   "root": folder.parent, "distribution": name})
    return groups


def sdist_examples_report(sdists: dict[str, Optional[Path]]) -> dict[str, str]:
    report = {}
    for name, folder in sdists.items():
        if folder is None:
            report[name] = "no sdist could be downloaded"
        elif (folder / "examples").is_dir():
            report[name] = "examples/ shipped"
        else:
            report[name] = "no examples/ folder in the sdist"
    return report


def files_of(folder: Path) -> Iterable[Path]:
    for here, subfolders, names in os.walk(folder):
        subfolders[:] = sorted(d for d in subfolders if d not in ("__pycache__", ".git"))
        for name in sorted(names):
            if name.endswith(LINTED_SUFFIXES):
                yield Path(here) / name


def count_lines(path: Path) -> int:
    try:
        if path.suffix == ".ipynb":
            notebook = json.loads(path.read_text(encoding="utf-8"))
            total = 0
            for cell in notebook.get("cells", []):
                if cell.get("cell_type") == "code":
                    source = cell.get("source", "")
                    total += len(("".join(source) if isinstance(source, list) else source).splitlines())
            return total
        return len(path.read_text(encoding="utf-8", errors="replace").splitlines())
    except (OSError, ValueError):
        return 0


# -- 4. the lint ----------------------------------------------------------------------------------


def repository_groups(folder: Path, listing: Path = REPOSITORIES) -> list[dict[str, Any]]:
    """One group per repository of `listing` (repo, commit, kind) found under `folder` (as `owner+name`)."""
    with open(listing, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    groups = []
    for row in rows:
        path = folder / row["repo"].replace("/", "+")
        if not path.is_dir():
            log(f"missing {path}: put {row['repo']} there, checked out at {row['commit']}")
            continue
        groups.append({"label": row["repo"], "tier": row["kind"], "path": path, "root": folder,
                       "distribution": row["repo"]})
    return groups


def lint(
    workdir: Path, groups: list[dict[str, Any]], jobs: int, python: Optional[Path] = None
) -> list[dict[str, Any]]:
    # Our own configuration: nothing of the corpus is excluded (the repository's pyproject.toml
    # would exclude every `tests` folder); only caches are skipped.
    config = workdir / "pyproject.toml"
    config.write_text('[tool.jax_purity_lint]\nexclude = ["__pycache__", ".git"]\n')
    interpreter = str(python or venv_python(workdir))
    command = [interpreter, "-m", "jax_purity_lint", "check", "--format", "json", "-j", str(jobs),
               "--config", str(config), *[str(g["path"]) for g in groups]]
    log("$ " + " ".join(command[:8]) + f" ... ({len(groups)} folders)")
    environment = {**os.environ, "PYTHONPATH": str(REPO)} if python is not None else None
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=environment)
    if result.returncode not in (0, 1):
        raise SystemExit(f"jax-purity-lint failed ({result.returncode}):\n{result.stderr}")
    flags = json.loads(result.stdout or "[]")
    for flag in flags:
        absolute = (workdir / flag["path"]).resolve()
        group = next(g for g in groups if absolute.is_relative_to(g["path"].resolve()))
        flag["group"] = group["label"]
        flag["tier"] = group["tier"]
        flag["path"] = absolute.relative_to(group["root"].resolve()).as_posix()
        flag["location"] = location(flag)
    return sorted(flags, key=lambda f: (f["group"], f["path"], f.get("cell") or 0, f["line"], f["code"]))


def location(flag: dict[str, Any]) -> str:
    """`flax/linen/module.py:12` or, in a notebook, `flax-0.12.8/docs/quick_start.ipynb:cell 20:3`."""
    cell = flag.get("cell")
    return f"{flag['path']}:cell {cell}:{flag['line']}" if cell else f"{flag['path']}:{flag['line']}"


# -- 5. the triage table --------------------------------------------------------------------------


def read_triage(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {(row["location"], row["code"]): row for row in rows}


def triage_report(
    flags: list[dict[str, Any]], table: dict[tuple[str, str], dict[str, str]], groups: list[dict[str, Any]]
) -> dict[str, Any]:
    current = {(f["location"], f["code"]) for f in flags}
    # The table holds both corpora: rows of folders that were not linted this time are not "resolved".
    linted = {g["path"].resolve().relative_to(g["root"].resolve()).parts[0] for g in groups}
    verdicts = collections.Counter()
    untriaged = []
    for flag in flags:
        row = table.get((flag["location"], flag["code"]))
        if row is None:
            untriaged.append(flag)
        else:
            verdicts[row["verdict"]] += 1
    tp = sum(n for verdict, n in verdicts.items() if verdict.startswith("TP"))
    fp = verdicts["FP"]
    resolved = [row for key, row in table.items() if key not in current and key[0].split("/")[0] in linted]
    return {
        "verdicts": dict(verdicts),
        "true_positives": tp,
        "false_positives": fp,
        "precision": (tp / (tp + fp)) if tp + fp else None,
        "untriaged": [f["location"] + " " + f["code"] for f in untriaged],
        "no_longer_flagged": [{"location": r["location"], "code": r["code"], "verdict": r["verdict"]}
                              for r in resolved],
    }


# -- output ---------------------------------------------------------------------------------------


def table(groups: list[dict[str, Any]], flags: list[dict[str, Any]]) -> str:
    codes = sorted({f["code"] for f in flags})
    counts = collections.Counter((f["group"], f["code"]) for f in flags)
    header = ["package", "tier", "files", "lines", *codes, "total"]
    rows = []
    for g in groups:
        per_code = [counts[(g["label"], c)] for c in codes]
        rows.append([g["label"], g["tier"], g["files"], g["lines"], *per_code, sum(per_code)])
    totals = ["total", "", sum(g["files"] for g in groups), sum(g["lines"] for g in groups),
              *[sum(counts[(g["label"], c)] for g in groups) for c in codes], len(flags)]
    rows.append(totals)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).rjust(w) if i >= 2 else str(v).ljust(w) for i, (v, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), *map(line, rows)])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--skip-install", action="store_true", help="reuse the venv and sdists already there")
    parser.add_argument("--no-extended", dest="extended", action="store_false",
                        help="only installed sources and examples/ folders")
    parser.add_argument("--json", type=Path, default=None, help="where to write the flags (default: WORKDIR/flags.json)")
    parser.add_argument("--triage", type=Path, default=TRIAGE)
    parser.add_argument("--check-triage", action="store_true", help="exit 1 if a flag is not in the triage table")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--repos", type=Path, default=None,
                        help="lint the development corpus from local copies in this folder (no installs)")
    parser.add_argument("--repo-list", type=Path, default=REPOSITORIES,
                        help="with --repos: the repositories (repo,commit,kind), default docs/real-world-repos.csv")
    args = parser.parse_args(argv)

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    python = None
    if args.repos is not None:
        python, versions, sdists = Path(sys.executable), {}, {}
        groups = repository_groups(args.repos.resolve(), args.repo_list)
    else:
        if not (args.skip_install and venv_python(workdir).exists()):
            install(workdir)
        versions = installed_versions(workdir)
        sdists = fetch_sdists(workdir)
        groups = corpus(workdir, sdists, args.extended)
    for g in groups:
        files = list(files_of(g["path"]))
        g["files"] = len(files)
        g["lines"] = sum(count_lines(f) for f in files)

    started = time.perf_counter()
    flags = lint(workdir, groups, args.jobs, python)
    seconds = time.perf_counter() - started
    triage = triage_report(flags, read_triage(args.triage), groups)

    print(f"jax-purity-lint on {sum(g['files'] for g in groups)} files, {sum(g['lines'] for g in groups)} lines "
          f"({seconds:.0f} s)")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print("sdist examples: " + "; ".join(f"{k}: {v}" for k, v in sdist_examples_report(sdists).items()))
    print()
    print(table(groups, flags))
    print()
    for flag in flags:
        print(f"{flag['location']}: {flag['code']} {flag['message'][:160]}")
    print()
    precision = triage["precision"]
    print(f"triage ({args.triage.relative_to(REPO) if args.triage.is_relative_to(REPO) else args.triage}): "
          f"{triage['verdicts']}; precision {'n/a' if precision is None else f'{precision:.3f}'} "
          f"({triage['true_positives']} TP, {triage['false_positives']} FP)")
    if triage["untriaged"]:
        print(f"{len(triage['untriaged'])} flag(s) not in the triage table:")
        for item in triage["untriaged"]:
            print("  " + item)
    if triage["no_longer_flagged"]:
        print(f"{len(triage['no_longer_flagged'])} triaged row(s) no longer flagged:")
        for row in triage["no_longer_flagged"]:
            print(f"  {row['location']} {row['code']} ({row['verdict']})")

    output = args.json or workdir / "flags.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "python": sys.version.split()[0],
        "versions": versions,
        "install_failures": json.loads((workdir / "install-failures.json").read_text())
        if (workdir / "install-failures.json").exists() else [],
        "sdist_examples": sdist_examples_report(sdists),
        "groups": [{k: (str(v) if isinstance(v, Path) else v) for k, v in g.items() if k != "root"} for g in groups],
        "seconds": round(seconds, 1),
        "counts": {
            "per_code": dict(collections.Counter(f["code"] for f in flags)),
            "per_package": dict(collections.Counter(f["group"] for f in flags)),
        },
        "triage": triage,
        "flags": flags,
    }, indent=1))
    print(f"\nflags written to {output}")
    return 1 if args.check_triage and triage["untriaged"] else 0


if __name__ == "__main__":
    sys.exit(main())
