"""The flake8 surface: options through flake8's option manager, results as (line, col, message, type).

Each file is configured as `check` configures it (surfaces/project.py): the `[tool.jax_purity_lint]`
table of the nearest pyproject.toml above the linted file, looked up once per folder. flake8's own
options take precedence: `--jpl-jit-functions` and `--jpl-state-aware-functions`, when given, replace
the table's lists; `--select`, `--ignore`, `--extend-select` and `--extend-ignore` are weighed with
the table's select and ignore by flake8's rule, the longest matching prefix deciding and flake8's
option winning at equal length. flake8 then applies its own selection and `# noqa` to what is
yielded. flake8's `--isolated` does not reach plugins (its preliminary parser consumes it), so the
pyproject table is read even then.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Optional, Sequence, Union

from . import __version__
from .source.prefilter import may_hold_a_site
from .surfaces.cache_folder import default_cache_folder
from .surfaces.config import Config, ConfigError, could_name_our_codes, enabled_by_layers
from .surfaces.project import Overrides, Project

if TYPE_CHECKING:
    from .diagnostics import Diagnostic
    from .surfaces.cache import ResultCache
    from .surfaces.check import FileResult

# An editor runs flake8 once per save, in a new process: what this module imports is paid on every
# save, for every file. The engine (and, through it, libcst) is imported only for a file that passes
# the prefilter (source/prefilter.py); configuration and that check are all a file without a trace
# site costs. A file that passes is checked again by the engine: a substring search and a walk of
# CPython's tree, small beside the libcst parse that follows.


class JaxPurityPlugin:
    name = "jax-purity-lint"
    version = __version__
    # The pyproject tables, with flake8's --jpl-* options laid over them once parse_options has run.
    project: ClassVar[Project] = Project()
    # What flake8 was told to select and ignore, our codes only (empty when not given): they weigh
    # against the pyproject's select and ignore, and opt-in codes are reported only when named
    # (as flake8-bugbear does for its B9 codes; flake8 itself runs every plugin whatever is selected).
    selected: ClassVar[tuple[str, ...]] = ()
    ignored: ClassVar[tuple[str, ...]] = ()
    # --jpl-no-cache: neither the results cache nor the other modules' summaries are read or written.
    no_cache: ClassVar[bool] = False
    # The results cache of each project folder met, for the life of the process (each flake8 -j worker).
    result_caches: ClassVar[dict[Path, "ResultCache"]] = {}

    def __init__(self, tree: ast.AST, lines: Sequence[str], filename: str) -> None:
        # flake8 has already parsed `tree`: the prefilter and the preflight use it instead of parsing
        # again, and only files that may hold a trace site are read again with libcst.
        self.tree = tree
        self.lines = lines
        self.filename = filename

    @classmethod
    def add_options(cls, option_manager: Any) -> None:
        # No default: an option not given (None) leaves the pyproject's list in force.
        option_manager.add_option(
            "--jpl-jit-functions",
            parse_from_config=True,
            comma_separated_list=True,
            help="Extra compile-and-cache transformations, by qualified name (e.g. mylib.compile). "
            "Replaces jit-functions of [tool.jax_purity_lint] in pyproject.toml.",
        )
        option_manager.add_option(
            "--jpl-state-aware-functions",
            parse_from_config=True,
            comma_separated_list=True,
            help="Extra transformations that carry module state in and out, like flax.nnx.jit. "
            "Replaces state-aware-functions of [tool.jax_purity_lint] in pyproject.toml.",
        )
        option_manager.add_option(
            "--jpl-no-cache",
            action="store_true",
            parse_from_config=True,
            help="Neither read nor write jax-purity-lint's cache (.jpl_cache beside pyproject.toml): "
            "results of unchanged files and the summaries of the modules they import.",
        )

    @classmethod
    def parse_options(cls, options: Any) -> None:
        overrides = Overrides(
            jit_functions=_given(getattr(options, "jpl_jit_functions", None)),
            state_aware_functions=_given(getattr(options, "jpl_state_aware_functions", None)),
        )
        cls.project = Project(overrides)
        cls.no_cache = bool(getattr(options, "jpl_no_cache", False))
        cls.selected = _our_prefixes(options, "select", "extend_select")
        cls.ignored = _our_prefixes(options, "ignore", "extend_ignore")

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        # flake8 iterates this outside its own plugin guard: anything raised here aborts the whole
        # run with a traceback, so even a failure to join the lines becomes JPL001.
        config = self._configuration()
        if not isinstance(config, Config):
            yield config.line, config.col, config.as_flake8(), type(self)
            return
        for diagnostic in self._diagnostics(config):
            if self.enabled(diagnostic.code, config):
                yield diagnostic.line, diagnostic.col, diagnostic.as_flake8(), type(self)

    def _configuration(self) -> Union[Config, Diagnostic]:
        """The file's configuration, or the JPL001 that says why it has none (a wrong pyproject.toml)."""
        try:
            return self.project.config_for(self.filename)
        except ConfigError as error:
            return _failure(f"its configuration is invalid ({error}); correct it to lint this file")
        except Exception as error:
            return _internal_error(error)

    def _diagnostics(self, config: Config) -> list[Diagnostic]:
        try:
            source = "".join(self.lines)
            if not may_hold_a_site(source, self.tree, config.settings):  # the engine's prefilter, before loading it
                return []
            if self.no_cache:
                return list(self._analyse(source, config).diagnostics)
            # Results and the other modules' summaries are kept where `check` keeps its results: a
            # file flake8 sees again unchanged (on opening it, over a tree, in pre-commit) is not
            # parsed again, and a changed one reads its imports' summaries.
            cache = self._result_cache(default_cache_folder(config))
            path = Path(self.filename)
            return list(cache.analyse_text(source, path, config, lambda: self._analyse(source, config)).diagnostics)
        except Exception as error:
            return [_internal_error(error)]

    def _analyse(self, source: str, config: Config) -> FileResult:
        from .engine import analyse_file
        from .surfaces.check import FileResult

        analysis = analyse_file(source, self.filename, config.settings, python_tree=self.tree, keep_tree=False)
        return FileResult(Path(self.filename), tuple(analysis.diagnostics), dependencies=analysis.dependencies)

    @classmethod
    def _result_cache(cls, folder: Path) -> ResultCache:
        from .surfaces.cache import ResultCache

        if folder not in cls.result_caches:
            cls.result_caches[folder] = ResultCache(folder)
        return cls.result_caches[folder]

    def enabled(self, code: str, config: Config) -> bool:
        """The pyproject's select/ignore, then flake8's: flake8's option wins at equal length."""
        return enabled_by_layers(code, [(config.select, config.ignore), (self.selected, self.ignored)])


def _given(values: Any) -> Optional[tuple[str, ...]]:
    """None when the option was not given; otherwise its names (an empty value gives none)."""
    return None if values is None else tuple(_names(values))


def _our_prefixes(options: Any, *keys: str) -> tuple[str, ...]:
    """flake8's codes for these options that could name ours (`JPL1`, not `E501`)."""
    codes = (code.upper() for key in keys for code in _names(getattr(options, key, None)))
    return tuple(code for code in codes if could_name_our_codes(code))


def _names(values: Any) -> list[str]:
    if isinstance(values, str):
        values = values.split(",")
    return [value.strip() for value in values or () if value and value.strip()]


def _failure(reason: str) -> Diagnostic:
    from .engine import analysis_failure  # only on the way out: a file that fails loads the engine

    return analysis_failure(reason)


def _internal_error(error: Exception) -> Diagnostic:
    from .engine import describe_exception

    return _failure(f"internal error {describe_exception(error)}")
