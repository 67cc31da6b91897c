"""Hostile inputs never crash the linter and never lose a line, on every surface: `analyze_source`,
the flake8 plugin class, the real `flake8` executable and the `jax-purity-lint check` command.

Each input gets either its normal results (at the right lines) or one clear JPL001, never a traceback.
And the linter never imports or runs the code it checks.
"""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import sysconfig
import threading
import tokenize
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import pytest

from jax_purity_lint.source.deep_stack import on_deep_stack, retry_deep
from jax_purity_lint.engine import analyze_path, analyze_source
from jax_purity_lint.flake8_plugin import JaxPurityPlugin

# Line 5 reads `g`, rebound at line 6: JPL100 at line 5.
SEED = "import jax\ng = 0\n@jax.jit\ndef f(x):\n    return x + g\nf(0)\ng = 1\n"
SEED_FINDING = [("JPL100", 5)]
# Line 5 mutates a global in place, whatever follows: JPL102 at line 5.
MUTATING = "import jax\ng = []\n@jax.jit\ndef f(x):\n    g.append(x)\n    return x\n"
MUTATING_FINDING = [("JPL102", 5)]
DEEP = 10_000
FIVE_MB = 5_000_000


@dataclass(frozen=True)
class Hostile:
    name: str
    source: Union[str, bytes]
    findings: Optional[list[tuple[str, int]]] = None  # exactly these (code, line); None: not checked
    failure: Optional[str] = None  # or one JPL001 whose message contains this
    failure_line: Optional[int] = None
    flake8_core_dies: bool = False  # flake8's own pyflakes recurses too deeply on it, with or without us
    large: bool = False  # flake8's own checks take most of a minute on it: executables only in the slow run

    @property
    def as_bytes(self) -> Optional[bytes]:
        """The file that holds this source, or None (a lone surrogate is no file's content)."""
        if isinstance(self.source, bytes):
            return self.source
        try:
            return self.source.encode("utf-8")
        except UnicodeEncodeError:
            return None


def with_newlines(source: str, newline: str) -> str:
    return source.replace("\n", newline)


def chain(expression: str) -> str:
    """A file whose only problem is one deep expression inside a traced function."""
    return f"import jax\n@jax.jit\ndef f(x):\n    return {expression}\n"


def deep_but_valid(expression: str) -> str:
    """MUTATING with one deep expression CPython accepts, in the traced function after the finding."""
    return MUTATING.replace("    return x\n", f"    y = {expression}\n    return x\n")


def nested_functions(depth: int) -> str:
    """f0 defines and calls f1, which defines and calls f2, ...; the innermost mutates a global."""
    lines = ["import jax", "g = []"]
    lines += ["    " * level + f"def f{level}(x):" for level in range(depth)]
    lines.append("    " * depth + "g.append(x)")
    lines += ["    " * (level + 1) + f"return f{level + 1}(x)" for level in reversed(range(depth - 1))]
    return "\n".join(lines) + "\njax.jit(f0)\n"


NEWER_SYNTAX = "type Alias[T] = list[T]\n"  # 3.12: not Python to 3.11's parser, but to libcst

HOSTILE = [
    # -- text, encodings, BOM
    Hostile("empty", "", findings=[]),
    Hostile("blank lines", "\n\n\n", findings=[]),
    Hostile("only a BOM", "\ufeff", findings=[]),
    Hostile("BOM then code", "\ufeff" + SEED, findings=SEED_FINDING),
    Hostile("BOM bytes", b"\xef\xbb\xbf" + SEED.encode(), findings=SEED_FINDING),
    Hostile("latin-1 cookie", b"# -*- coding: latin-1 -*-\ns = '\xe9'\n" + SEED.encode(), findings=[("JPL100", 7)]),
    Hostile("invalid UTF-8", b"from jax import jit\ns = '\xe9\xff'\n" + SEED.encode(), failure="decode"),
    Hostile("unknown cookie", b"# coding: klingon\n" + SEED.encode(), failure="decode"),
    Hostile("UTF-16 bytes", ("\ufeff" + SEED).encode("utf-16"), failure="decode"),
    Hostile("lone surrogate", "from jax import jit\ns = '\udc80'\n", failure="lone surrogate", failure_line=2),
    Hostile("null byte", "from jax import jit\nx = 1\n\x00y = 2\n", failure="null byte", failure_line=3),
    Hostile("null byte in a comment", SEED + "# \x00\n", failure="null byte", failure_line=8),
    # -- newlines: Python's own lines, not str.splitlines()'s
    Hostile("CRLF", with_newlines(SEED, "\r\n"), findings=SEED_FINDING),
    Hostile("CR only", with_newlines(SEED, "\r"), findings=SEED_FINDING),
    Hostile(
        "mixed newlines", "import jax\r\ng = 0\r@jax.jit\ndef f(x):\r\n    return x + g\rf(0)\rg = 1\n", findings=SEED_FINDING
    ),
    Hostile("form feeds", "\x0c\nimport jax\n\x0c\n" + SEED, findings=[("JPL100", 8)]),
    Hostile("form feed in indentation", SEED.replace("    return", "\x0c    return"), findings=SEED_FINDING),
    Hostile(
        "splitlines breaks in a comment and a string",
        "# \x0b \x1c \x1d \x1e \x85 \u2028 \u2029\ns = '\x0b\x1c\u2028'\n" + SEED,
        findings=[("JPL100", 7)],
    ),
    Hostile("no final newline", SEED.rstrip("\n"), findings=SEED_FINDING),
    Hostile("backslash continuations", SEED.replace("x + g", "x + \\\n        g"), findings=[("JPL100", 6)]),
    Hostile(
        "CRLF continuation", with_newlines(SEED.replace("x + g", "x + \\\n        g"), "\r\n"), findings=[("JPL100", 6)]
    ),
    Hostile("backslash at the end", SEED + "x = 1 \\", failure="not valid Python", failure_line=8),
    Hostile("tabs", SEED.replace("    ", "\t"), findings=SEED_FINDING),
    Hostile(
        "inconsistent tabs", "from jax import jit\nif x:\n        a = 1\n\tb = 2\n", failure="tabs", failure_line=4
    ),
    Hostile("unexpected indent", "from jax import jit\n  x = 1\n", failure="indent", failure_line=2),
    # -- syntax errors: reported at their line
    Hostile(
        "missing operand",
        "import jax\n@jax.jit\ndef f(x):\n    return x +\n",
        failure="not valid Python",
        failure_line=4,
    ),
    Hostile("unclosed bracket", "from jax import jit\ny = (1,\n\nz = 2\n", failure="never closed", failure_line=2),
    Hostile("unterminated string", "from jax import jit\ns = 'abc\n", failure="unterminated", failure_line=2),
    Hostile("unterminated triple quote", "from jax import jit\ns = '''abc\n\n", failure="unterminated", failure_line=2),
    Hostile("stray bracket", "from jax import jit\n)\n", failure="not valid Python", failure_line=2),
    Hostile("Python 2 print", "from jax import jit\nprint 'x'\n", failure="Missing parentheses", failure_line=2),
    # -- newer syntax than the running Python: libcst reads 3.12-3.14 on any interpreter
    Hostile(
        "type parameters",
        MUTATING + "def h[T: int, *Ts, **P](x: T) -> T:\n    return x\nclass C[T]: pass\n" + NEWER_SYNTAX,
        findings=MUTATING_FINDING,
    ),
    Hostile(
        "type parameter defaults (3.13)",
        MUTATING + "def h[T = int](x: T) -> T:\n    return x\n",
        findings=MUTATING_FINDING,
    ),
    Hostile(
        "nested f-strings (3.12)",
        MUTATING + 's = f"{f\'{g!r:>{10}}\'}" + f"{"same quotes"}"\n',
        findings=MUTATING_FINDING,
    ),
    Hostile(
        "multi-line f-string (3.12)", MUTATING + "s = f'{\n    1 +  # a comment\n    2\n}'\n", findings=MUTATING_FINDING
    ),
    Hostile("template strings (3.14)", MUTATING + "s = t'{g}'\n", findings=MUTATING_FINDING),
    Hostile(
        "except without brackets (3.14)",
        MUTATING + "try:\n    pass\nexcept ValueError, TypeError:\n    pass\n",
        findings=MUTATING_FINDING,
    ),
    Hostile(
        "match in a traced function",
        "import jax\ng = []\n@jax.jit\ndef f(x):\n    match x:\n"
        "        case [a, *rest] if a:\n            g.append(a)\n"
        "        case {'k': v, **kw}:\n            pass\n        case C(y=z) | None:\n            pass\n    return x\n",
        findings=[("JPL102", 7)],
    ),
    Hostile(
        "except star", MUTATING + "try:\n    pass\nexcept* ValueError as e:\n    pass\n", findings=MUTATING_FINDING
    ),
    # -- nesting: libcst's native parser would crash the process (SIGSEGV) or run for minutes
    Hostile("10,000 parentheses", chain("(" * DEEP + "x" + ")" * DEEP), failure="nested too deeply"),
    Hostile("10,000 lists", chain("[" * DEEP + "]" * DEEP), failure="nested too deeply"),
    Hostile("10,000 dicts", chain("{1: " * DEEP + "x" + "}" * DEEP), failure="nested too deeply"),
    Hostile("10,000 calls deep", chain("f(" * DEEP + ")" * DEEP), failure="nested too deeply"),
    Hostile("10,000 unary minus", chain("-" * DEEP + "x"), failure="nested too deeply"),
    Hostile("10,000 nots", chain("not " * DEEP + "x"), failure="nested too deeply"),
    Hostile("10,000 additions", chain(" + ".join(["x"] * DEEP)), failure="nested too deeply"),
    Hostile("10,000 powers", chain("**".join(["x"] * DEEP)), failure="nested too deeply"),
    Hostile("10,000 attributes", chain("x" + ".a" * DEEP), failure="nested too deeply"),
    Hostile("10,000 calls in a row", chain("x" + "()" * DEEP), failure="nested too deeply"),
    Hostile("10,000 subscripts", chain("x" + "[0]" * DEEP), failure="nested too deeply"),
    Hostile("10,000 lambdas", chain("lambda: " * DEEP + "x"), failure="nested too deeply"),
    Hostile("10,000 conditionals", chain("x if x else " * DEEP + "x"), failure="nested too deeply"),
    # CPython keeps these flat (so it accepts them) while libcst nests them.
    Hostile("10,000 ands", chain(" and ".join(["x"] * DEEP)), failure="nested"),
    Hostile("10,000 ors over lines", chain("(" + " or\n".join(["x"] * DEEP) + ")"), failure="nested"),
    Hostile("10,000-part import", "from jax import jit\nimport " + ".".join(["a"] * DEEP) + "\n", failure="nested"),
    Hostile(
        "10,000-part from-import",
        "from jax import jit\nfrom " + ".".join(["a"] * DEEP) + " import b\n",
        failure="nested",
    ),
    # Newer syntax, so CPython cannot judge: the token estimate must.
    Hostile("newer syntax and 10,000 minus", NEWER_SYNTAX + chain("-" * DEEP + "x"), failure="nested"),
    Hostile("newer syntax and 10,000 brackets", NEWER_SYNTAX + chain("(" * DEEP + "x" + ")" * DEEP), failure="nested"),
    Hostile("newer syntax and 10,000 ands", NEWER_SYNTAX + chain(" and ".join(["x"] * DEEP)), failure="nested"),
    # Deep, but within what Python accepts: analysed (on a deep stack), at the right line.
    Hostile("199 nested lists", deep_but_valid("[" * 199 + "]" * 199), findings=MUTATING_FINDING),
    Hostile("2,000 unary minus", deep_but_valid("-" * 2000 + "x"), findings=MUTATING_FINDING, flake8_core_dies=True),
    Hostile(
        "1,000 additions", deep_but_valid(" + ".join(["x"] * 1000)), findings=MUTATING_FINDING, flake8_core_dies=True
    ),
    Hostile("2,400 ands", deep_but_valid(" and ".join(["x"] * 2400)), findings=MUTATING_FINDING),
    Hostile(
        "2,215 concatenated strings (as in pydoc_data/topics.py)",
        deep_but_valid(" ".join(["'a'"] * 2215)),
        findings=MUTATING_FINDING,
    ),
    Hostile("2,400-part import", "import " + ".".join(["a"] * 2400) + "\n" + MUTATING, findings=[("JPL102", 6)]),
    Hostile(
        "1,000-branch elif",
        MUTATING.replace("    return x\n", "    if x: pass\n" + "    elif x: pass\n" * 1000 + "    return x\n"),
        findings=MUTATING_FINDING,
        flake8_core_dies=True,
    ),
    Hostile("99 nested functions", nested_functions(99), findings=[("JPL102", 102)]),
    # Valid Python that libcst cannot parse (Instagram/LibCST#1011): a clear JPL001 at the line.
    Hostile(
        "parenthesized annotated target", MUTATING + "(n): int = 1\n", failure="libcst cannot parse", failure_line=7
    ),
    # -- size
    Hostile(
        "5 MB docstring",
        '"""' + ("x" * 99 + "\n") * (FIVE_MB // 100) + '"""\n' + SEED,
        findings=[("JPL100", FIVE_MB // 100 + 6)],
        large=True,
    ),
    Hostile("5 MB line", "s = '" + "x" * FIVE_MB + "'\n" + SEED, findings=[("JPL100", 6)], large=True),
    Hostile("100,000-character name", SEED.replace("g", "g" * 100_000), findings=SEED_FINDING),
    # -- valid but odd code: the analysis meets every shape of its inputs
    Hostile(
        "jit without a function",
        "import jax\njax.jit()\njax.jit(*a)\njax.jit(**k)\njax.jit(fun=f)\njax.jit(None)\n",
        findings=[],
    ),
    Hostile(
        "partial without arguments",
        "import jax, functools\nfunctools.partial()\nfunctools.partial(jax.jit)()\n",
        findings=[],
    ),
    Hostile(
        "setattr, delattr, next oddly called",
        "import jax\n@jax.jit\ndef f(x):\n    setattr()\n    delattr(*x)\n    next()\n    next(*x)\n    return x\n",
    ),
    Hostile(
        "inheritance cycle",
        "import jax\nclass A(B): pass\nclass B(A):\n    def f(self):\n        self.x = 1\n"
        "jax.jit(B().f)\njax.jit(B.f)\n",
    ),
    Hostile(
        "alias cycle", "from jax import jit\na = b\nb = a\njax.jit(a)\nf = f\njax.jit(f)\nj = j\nj(f)\n", findings=[]
    ),
    Hostile(
        "a function jits itself",
        "import jax\ng = []\ndef f(x):\n    g.append(x)\n    return jax.jit(f)(x)\njax.jit(f)\n",
        findings=[("JPL102", 4)],
    ),
    Hostile(
        "star import and shadowed jax",
        "from jax import *\nimport jax\njax = None\n@jax.jit\ndef f(x):\n    return x\n",
        findings=[],
    ),
    Hostile(
        "module-level nonlocal, return, await",
        MUTATING + "nonlocal q\nreturn 1\nawait x\nyield 2\n",
        findings=MUTATING_FINDING,
    ),
    Hostile(
        "decorators of every shape",
        "import jax\n@(lambda f: jax.jit(f))\n@buttons[0].connect\n@a.b().c[1](2)\ndef f(x):\n    return x\n",
    ),
    Hostile(
        "undefined globals",
        "import jax\n@jax.jit\ndef f(x):\n    global nowhere\n    del nowhere\n    nowhere = 1\n    return x\n",
    ),
    Hostile(
        "async everything",
        "import jax\n@jax.jit\nasync def f(x):\n    async for i in x: pass\n    async with a as b: pass\n"
        "    await x\n    return [i async for i in x]\n",
    ),
    Hostile(
        "walrus in a comprehension", "import jax\n@jax.jit\ndef f(x):\n    [y := i for i in range(3)]\n    return y\n"
    ),
    Hostile(
        "lambda jitted in a loop",
        "import jax\nfs = [jax.jit(lambda x, i=i: x + i + g) for i in range(3)]\ng = 1\ng = 2\n",
    ),
    Hostile(
        "non-ASCII names", "import jax\nπ = 1\n@jax.jit\ndef f(x):\n    return x + π\nf(0)\nπ = 2\n", findings=[("JPL100", 5)]
    ),
    Hostile(
        "classes in functions in classes",
        "import jax\nclass A:\n    def m(self):\n        class B:\n            @jax.jit\n"
        "            def n(self):\n                self.k += 1\n        return B\n",
    ),
    Hostile(
        "metaclass and keywords",
        "import jax\nclass A(Base, metaclass=M, **kw):\n    __slots__ = ('n',)\n    @jax.jit\n"
        "    def f(self, /, x, *, y=g):\n        return x\n",
    ),
]

# Internal errors found by this suite and fixed in the analysis.
ANALYSIS_BUGS = [
    pytest.param(
        Hostile(
            "hex static_argnums", "import jax\ndef f(x):\n    return x\njax.jit(f, static_argnums=0x1)\n", findings=[]
        )
    ),
    pytest.param(
        Hostile(
            "5,000-digit static_argnums",
            "import jax\ndef f(x):\n    return x\njax.jit(f, static_argnums=" + "9" * 5000 + ")\n",
            findings=[],
        )
    ),
]


def ids(cases):
    return [case.name for case in cases]


def check_expectation(case: Hostile, diagnostics) -> None:
    """The case's expectation, plus what holds for every input: no internal error, a lone JPL001,
    and every line inside the file."""
    failures = [d for d in diagnostics if d.code == "JPL001"]
    assert not any("internal error" in d.message for d in failures), failures
    assert not failures or len(diagnostics) == 1, diagnostics
    text = case.source if isinstance(case.source, str) else case.source.decode("latin-1")
    last_line = len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    assert all(1 <= d.line <= last_line and d.col >= 0 for d in diagnostics), diagnostics
    if case.failure is not None:
        assert failures and case.failure in failures[0].message, diagnostics
        if case.failure_line is not None:
            assert failures[0].line == case.failure_line, failures[0]
    elif case.findings is not None:
        assert [(d.code, d.line) for d in diagnostics] == case.findings, diagnostics


# -- analyze_source --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", HOSTILE, ids=ids(HOSTILE))
def test_analyze_source(case):
    check_expectation(case, analyze_source(case.source, case.name))


@pytest.mark.parametrize("case", ANALYSIS_BUGS)
def test_fixed_analysis_bugs(case):
    check_expectation(case, analyze_source(case.source, case.name))


def test_positions_without_the_wrappers_extra_pass_equal_libcsts():
    """parsing.node_positions skips a pass of MetadataWrapper.resolve: same mapping, every node, on
    every fixture (so a libcst release that changes how providers run is caught here)."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    from jax_purity_lint.source.parsing import node_positions
    from markers import fixture_files

    for path in fixture_files():
        module = cst.parse_module(path.read_text(encoding="utf-8"))
        expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        assert dict(node_positions(module)) == dict(expected), path.name


def test_not_even_a_string_is_a_clear_failure():
    [diagnostic] = analyze_source(None)  # type: ignore[arg-type]
    assert diagnostic.code == "JPL001"


# -- the deep-stack retry ---------------------------------------------------------------------------


def count_down(levels: int) -> int:
    return 0 if levels == 0 else 1 + count_down(levels - 1)


def test_deep_stack_retry_goes_deeper_and_restores_the_limit():
    limit = sys.getrecursionlimit()
    assert retry_deep(lambda: count_down(20 * limit)) == 20 * limit
    with pytest.raises(RecursionError):  # unbounded recursion still ends, as a RecursionError
        retry_deep(lambda: count_down(10**7))
    assert sys.getrecursionlimit() == limit and threading.stack_size() == 0


def test_deep_stack_hands_back_other_exceptions_untouched():
    def fail():
        raise KeyError("not a recursion problem")

    with pytest.raises(KeyError):
        on_deep_stack(fail)


def test_deep_code_from_a_thread_with_a_small_stack_does_not_crash_the_process():
    """libcst's native parser would overflow a 512 KB thread stack near 1,000 levels (a segfault):
    off the main thread it parses on a thread with a stack of its own."""
    script = (
        "import sys, threading\n"
        "from jax_purity_lint.engine import analyze_source\n"
        "threading.stack_size(512 * 1024)\n"
        "found = []\n"
        "thread = threading.Thread(target=lambda: found.extend(analyze_source(sys.stdin.read())))\n"
        "thread.start()\nthread.join()\n"
        "print([(d.code, d.line) for d in found])\n"
    )
    source = deep_but_valid("-" * 2000 + "x")
    run = subprocess.run([sys.executable, "-c", script], input=source, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == str(MUTATING_FINDING)


def test_deep_stack_retries_from_threads_at_once_restore_the_limit():
    limit = sys.getrecursionlimit()
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(retry_deep(lambda: count_down(5 * limit)))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [5 * limit] * 4 and sys.getrecursionlimit() == limit


# -- the flake8 plugin class, as flake8 calls it -----------------------------------------------------


def flake8_lines(data: bytes) -> list[str]:
    """What flake8 hands a plugin: the file read as tokenize.open() reads it (coding cookie or BOM,
    universal newlines), or as latin-1 when that fails (flake8's processor.read_lines_from_filename)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return io.TextIOWrapper(io.BytesIO(data), encoding, line_buffering=True).readlines()
    except (SyntaxError, UnicodeError):
        return io.TextIOWrapper(io.BytesIO(data), "latin-1").readlines()


def plugin_rows(lines: list[str], filename: str = "hostile.py") -> list[tuple]:
    rows = list(JaxPurityPlugin(None, lines, filename).run())  # type: ignore[arg-type]
    for line, col, text, kind in rows:
        assert isinstance(line, int) and isinstance(col, int) and text.startswith("JPL") and kind is JaxPurityPlugin
    return rows


FILE_CASES = [case for case in HOSTILE if case.as_bytes is not None]


@pytest.mark.parametrize("case", FILE_CASES, ids=ids(FILE_CASES))
def test_flake8_plugin_class(case):
    lines = flake8_lines(case.as_bytes)
    rows = plugin_rows(lines)
    assert not any("internal error" in text for _, _, text, _ in rows)
    if python_parses("".join(lines)):  # only then does flake8 run the plugin; it must agree with the engine
        expected = [(d.line, d.code) for d in analyze_source("".join(lines))]
        assert [(line, text.split()[0]) for line, _, text, _ in rows] == expected


def test_flake8_plugin_turns_its_own_failure_into_jpl001():
    # `lines` that cannot be joined: the guard in run() rather than an exception out of flake8.
    [(line, col, text, _)] = list(JaxPurityPlugin(None, [b"import jax\n"], "odd.py").run())  # type: ignore[list-item]
    assert (line, col) == (1, 0) and text.startswith("JPL001 ")


def python_parses(source: Union[str, bytes]) -> bool:
    return python_error(source) is None


def python_error(source: Union[str, bytes]) -> Optional[type]:
    """The exception CPython's own parser raises on the source, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(source)
        return None
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        return type(error)


# -- the real executables, over a folder of every hostile file ---------------------------------------


def write_hostile_folder(folder: Path, cases: list[Hostile]) -> Path:
    # An empty table: no configuration from above reaches the files.
    (folder / "pyproject.toml").write_text('[project]\nname = "hostile"\n[tool.jax_purity_lint]\n')
    for index, case in enumerate(cases):
        (folder / f"case_{index:03d}.py").write_bytes(case.as_bytes)
    (folder / "dangling.py").symlink_to(folder / "nowhere.py")  # a file that cannot be read
    return folder


EXECUTABLE_CASES = [case for case in FILE_CASES if not case.large]
LARGE_CASES = [case for case in FILE_CASES if case.large]


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory) -> Path:
    return write_hostile_folder(tmp_path_factory.mktemp("hostile"), EXECUTABLE_CASES)


@pytest.fixture(scope="module")
def large_folder(tmp_path_factory) -> Path:
    return write_hostile_folder(tmp_path_factory.mktemp("large"), LARGE_CASES)


FORBIDDEN_IN_STDERR = ("Traceback", "failed during execution", "crashed", "Fatal Python error")


def flake8_survives(case: Hostile) -> bool:
    """flake8 itself dies with a traceback when ast.parse raises anything but a SyntaxError, as it
    does on very deep nesting (FileChecker.run_checks handles only SyntaxError and TokenError), and
    its pyflakes plugin dies on some deep code CPython accepts: no plugin can help those files."""
    return python_error(flake8_text(case)) not in (RecursionError, MemoryError) and not case.flake8_core_dies


def flake8_text(case: Hostile) -> str:
    return "".join(flake8_lines(case.as_bytes))


def test_real_flake8_over_every_hostile_file(hostile_folder):
    check_real_flake8(hostile_folder, EXECUTABLE_CASES)


@pytest.mark.slow
def test_real_flake8_over_large_files(large_folder):
    check_real_flake8(large_folder, LARGE_CASES)


def check_real_flake8(folder: Path, cases: list[Hostile]) -> None:
    files = [f"case_{index:03d}.py" for index, case in enumerate(cases) if flake8_survives(case)]
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "JPL,E9", "--jobs", "2", *files],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode in (0, 1) and not any(s in result.stderr for s in FORBIDDEN_IN_STDERR), result.stderr
    reported: dict[str, list[tuple[int, str]]] = {}
    for row in result.stdout.splitlines():
        path, line, _col, rest = row.split(":", 3)
        reported.setdefault(Path(path).name, []).append((int(line), rest.split()[0]))
    for index, case in enumerate(cases):
        if not flake8_survives(case):
            continue
        rows = reported.get(f"case_{index:03d}.py", [])
        if python_parses(flake8_text(case)):
            expected = [(d.line, d.code) for d in analyze_source(flake8_text(case))]
            assert sorted(rows) == sorted(expected), case.name
        else:  # flake8's own syntax error, and the plugin is not run
            assert any(code in ("E999", "E902") for _, code in rows), (case.name, rows)


def test_check_command_over_every_hostile_file(hostile_folder):
    check_command(hostile_folder, EXECUTABLE_CASES)


@pytest.mark.slow
def test_check_command_over_large_files(large_folder):
    check_command(large_folder, LARGE_CASES)


def check_command(folder: Path, cases: list[Hostile]) -> None:
    """In parallel (-j 2, so results cross process boundaries); the run in one process is below."""
    result = subprocess.run(
        [sys.executable, "-m", "jax_purity_lint", "check", ".", "--format", "json", "-j", "2"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1 and not any(s in result.stderr for s in FORBIDDEN_IN_STDERR), result.stderr
    found: dict[str, list[tuple[int, str, str]]] = {}
    for row in json.loads(result.stdout):
        found.setdefault(Path(row["path"]).name, []).append((row["line"], row["code"], row["message"]))
    assert [code for _, code, _ in found["dangling.py"]] == ["JPL001"]
    for index, case in enumerate(cases):
        rows = found.get(f"case_{index:03d}.py", [])
        assert not any("internal error" in message for _, _, message in rows), (case.name, rows)
        expected = [(d.line, d.code) for d in analyze_source(case.as_bytes)]
        if any(code == "JPL001" for _, code in expected):  # the command reads files itself: its own wording
            assert [code for _, code, _ in rows] == ["JPL001"], (case.name, rows)
        else:
            assert [(line, code) for line, code, _ in rows] == expected, case.name


# -- the linter never imports or runs what it checks -------------------------------------------------

SIDE_EFFECT = """import pathlib
pathlib.Path({marker!r}).write_text("imported")
import jax

g = []

@jax.jit
def f(x):
    g.append(x)
    return x

if __name__ == "__main__":
    pathlib.Path({marker!r}).write_text("run")
"""


@pytest.fixture
def booby_trapped(tmp_path) -> tuple[Path, Path]:
    """A folder of modules that write `marker` when imported or run, named to tempt an import:
    jax.py shadows JAX itself for any process started in that folder."""
    folder, marker = tmp_path / "project", tmp_path / "marker.txt"
    folder.mkdir()
    (folder / "pyproject.toml").write_text('[project]\nname = "trap"\n[tool.jax_purity_lint]\n')
    for name in ("module.py", "jax.py", "conftest.py", "setup.py", "__init__.py", "__main__.py", "sitecustomize.py"):
        (folder / name).write_text(SIDE_EFFECT.format(marker=str(marker)))
    return folder, marker


def console_script(name: str) -> str:
    """The installed entry point: unlike `python -m`, it does not put the current folder on sys.path."""
    return str(Path(sysconfig.get_path("scripts")) / name)


def test_analysis_never_imports_or_runs_the_code(booby_trapped):
    folder, marker = booby_trapped
    assert [d.code for d in analyze_path(folder / "module.py")] == ["JPL102"]
    for command in (
        [console_script("jax-purity-lint"), "check", "."],
        # `python -m` puts the folder first on sys.path: an `import jax` would run the trap.
        [sys.executable, "-m", "flake8", "--isolated", "--select", "JPL", "."],
    ):
        result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300)
        assert result.returncode == 1 and "JPL102" in result.stdout, (command, result.stdout, result.stderr)
    assert not marker.exists(), marker.read_text()


def test_analysis_does_not_import_jax():
    script = (
        "import sys\nfrom jax_purity_lint.engine import analyze_source\n"
        f"assert analyze_source({MUTATING!r})\n"
        "frameworks = [m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'flax', 'equinox')]\n"
        "assert not frameworks, frameworks\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


# -- surface bugs found by this suite, fixed -----------------------


def test_check_command_noqa_after_a_form_feed(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "noqa"\n[tool.jax_purity_lint]\n')
    (tmp_path / "ff.py").write_text("# a form feed: \x0c\n" + SEED.replace("x + g", "x + g  # noqa: JPL100"))
    result = subprocess.run(
        [sys.executable, "-m", "jax_purity_lint", "check", "ff.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (result.returncode, result.stdout) == (0, "")


# -- notebooks through the check command ------------------------------------------------------------


def notebook(*sources) -> str:
    cells = [{"cell_type": "code", "source": source, "metadata": {}, "outputs": []} for source in sources]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


# Sources start with `from jax import jit`: a file must name JAX and a transformation to be analysed.
HOSTILE_NOTEBOOKS = {
    "not JSON": "{not json",
    "empty": "",
    "a list": "[1, 2]",
    "cells not a list": json.dumps({"cells": 5}),
    "source not text": json.dumps({"cells": [{"cell_type": "code", "source": 5}]}),
    "cell type not text": json.dumps({"cells": [{"cell_type": ["code"], "source": "x"}]}),
    "BOM": "\ufeff" + notebook("import jax\n"),
    "5,000-digit number": '{"cells": [], "n": ' + "9" * 5000 + "}",
    "null byte in a cell": notebook("import jax\nx = 1\x00\n"),
    "10,000 ands in a cell": notebook("import jax\ny = " + " and ".join(["x"] * DEEP) + "\n"),
    "10,000 brackets in a cell": notebook("import jax\ny = " + "(" * DEEP + ")" * DEEP + "\n"),
    "lone surrogate in a cell": '{"cells": [{"cell_type": "code", "source": "import jax\\ns = \'\\udc80\'\\n"}]}',
}
# Notebooks whose JSON has the wrong shape once crashed the command with a traceback.
CRASHING_NOTEBOOKS = {
    "a cell that is not an object": json.dumps({"cells": [1, "x", None]}),
    "a source list holding a number": notebook(["import jax\n", 5, None]),
    "JSON nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
}


def check_notebooks(tmp_path: Path, notebooks: dict) -> subprocess.CompletedProcess:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "notebooks"\n[tool.jax_purity_lint]\n')
    for index, text in enumerate(notebooks.values()):
        (tmp_path / f"nb_{index:02d}.ipynb").write_text(text, encoding="utf-8")
    command = [sys.executable, "-m", "jax_purity_lint", "check", "."]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_check_command_over_hostile_notebooks(tmp_path):
    result = check_notebooks(tmp_path, HOSTILE_NOTEBOOKS)
    assert result.returncode == 1 and not any(s in result.stderr for s in FORBIDDEN_IN_STDERR), result.stderr
    assert "internal error" not in result.stdout


def test_check_command_over_notebooks_that_crash_it(tmp_path):
    result = check_notebooks(tmp_path, CRASHING_NOTEBOOKS)
    assert result.returncode == 1 and not any(s in result.stderr for s in FORBIDDEN_IN_STDERR), result.stderr
