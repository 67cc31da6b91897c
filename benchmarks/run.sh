#!/usr/bin/env bash
# The performance benchmark, one command from a clean checkout: `bash benchmarks/run.sh`
# (`--quick` for a smoke run, `--on-save` for the on-save latency alone). Results: the table on
# stdout, benchmarks/results/latest.json.
#
# flake8 runs every installed plugin whatever --select says, so flake8's own figure (c) needs an
# environment without this package. Two environments, both with the same pinned flake8:
#   .venv/flake8  flake8 alone, plus the corpus (jax, flax, optax, equinox installed --no-deps)
#   .venv/jpl     flake8 + this package: everything else, and the benchmark driver
# The package is installed as a copy (not editable), refreshed on every run: the figures are of the
# checkout as it was when the run started, even if it is edited while the benchmark runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
python="${PYTHON:-python3}"
plain="$here/.venv/flake8"
ours="$here/.venv/jpl"

log="$here/.venv/setup.log"

quietly() {  # pip's chatter goes to the log, shown only if a step fails
    "$@" >>"$log" 2>&1 || { cat "$log" >&2; echo "benchmark setup failed: $*" >&2; exit 1; }
}

make_venv() {
    [ -x "$1/bin/python" ] || quietly "$python" -m venv "$1"
    quietly "$1/bin/python" -m pip install --upgrade pip
}

echo "... setting up $plain and $ours (log: $log)" >&2
mkdir -p "$here/.venv"
: >"$log"
make_venv "$plain"
quietly "$plain/bin/python" -m pip install -r "$here/requirements-flake8.txt"
quietly "$plain/bin/python" -m pip install --no-deps -r "$here/requirements-corpus.txt"
make_venv "$ours"
quietly "$ours/bin/python" -m pip install -r "$here/requirements-flake8.txt" "$repo"
quietly "$ours/bin/python" -m pip install --no-deps --force-reinstall "$repo"

corpus="$("$plain/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cd "$repo"
if [ "${1:-}" = "--on-save" ]; then  # only the on-save latency (about 30 seconds)
    shift
    exec "$ours/bin/python" "$here/on_save.py" \
        --plain-flake8 "$plain/bin/flake8" --our-flake8 "$ours/bin/flake8" --site-packages "$corpus" "$@"
fi
exec "$ours/bin/python" "$here/bench.py" \
    --plain-flake8 "$plain/bin/flake8" --our-flake8 "$ours/bin/flake8" --our-cli "$ours/bin/jax-purity-lint" \
    --site-packages "$corpus" "$@"
