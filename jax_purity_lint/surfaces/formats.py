"""Output formats of `check`: text (flake8's), json, github (workflow annotations), sarif (2.1.0)."""

from __future__ import annotations

import json
from typing import Callable, Sequence

from .. import __version__
from ..diagnostics import Diagnostic
from .check import FileResult

DOCS_URL = "https://github.com/jax-purity-lint/jax-purity-lint/blob/main/docs/rules/{code}.md"


def _rows(results: Sequence[FileResult]):
    for result in results:
        for diagnostic in result.diagnostics:
            yield result, diagnostic


def location(result: FileResult, diagnostic: Diagnostic) -> str:
    """`path:line:col` with a 1-based column, as flake8 prints it; `nb.ipynb:cell N:line L:col` in notebooks."""
    if diagnostic.cell is not None:
        return f"{result.path}:cell {diagnostic.cell}:line {diagnostic.line}:{diagnostic.col + 1}"
    return f"{result.path}:{diagnostic.line}:{diagnostic.col + 1}"


def format_text(results: Sequence[FileResult]) -> str:
    return "".join(f"{location(r, d)}: {d.code} {d.message}\n" for r, d in _rows(results))


def as_dict(result: FileResult, diagnostic: Diagnostic) -> dict:
    site = diagnostic.site
    return {
        "path": str(result.path),
        "line": diagnostic.line,
        "column": diagnostic.col + 1,
        "code": diagnostic.code,
        "message": diagnostic.message,
        "function": diagnostic.function,
        "state": diagnostic.state,
        "path_from_site": list(diagnostic.path),
        "site": None
        if site is None
        else {"line": site.line, "column": site.col + 1, "transform": site.transform, "function": site.function},
        "cell": diagnostic.cell,
    }


def format_json(results: Sequence[FileResult]) -> str:
    return json.dumps([as_dict(r, d) for r, d in _rows(results)], indent=2) + "\n"


def _escape_property(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").replace(":", "%3A").replace(",", "%2C")


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def format_github(results: Sequence[FileResult]) -> str:
    return "".join(
        f"::warning file={_escape_property(str(r.path))},line={d.line},col={d.col + 1},"
        f"title={d.code}::{_escape_data(d.code + ' ' + d.message)}\n"
        for r, d in _rows(results)
    )


def format_sarif(results: Sequence[FileResult]) -> str:
    from ..rules import ALL_RULES, ANALYSIS_FAILURE_CODE

    rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": " ".join((rule.__doc__ or "").split())[:1000]},
            "helpUri": DOCS_URL.format(code=rule.code),
            "defaultConfiguration": {"level": "warning"},
        }
        for rule in ALL_RULES
    ]
    rules.append(
        {
            "id": ANALYSIS_FAILURE_CODE,
            "name": "analysis-failure",
            "shortDescription": {"text": "the file could not be analysed"},
            "helpUri": DOCS_URL.format(code=ANALYSIS_FAILURE_CODE),
            "defaultConfiguration": {"level": "note"},
        }
    )
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    sarif_results = [
        {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": "note" if d.code == ANALYSIS_FAILURE_CODE else "warning",
            "message": {"text": d.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": r.path.as_posix()},
                        "region": {"startLine": d.line, "startColumn": d.col + 1},
                    }
                }
            ],
        }
        for r, d in _rows(results)
    ]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "jax-purity-lint",
                        "version": __version__,
                        "informationUri": "https://github.com/jax-purity-lint/jax-purity-lint",
                        "rules": rules,
                    }
                },
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


FORMATTERS: dict[str, Callable[[Sequence[FileResult]], str]] = {
    "text": format_text,
    "json": format_json,
    "github": format_github,
    "sarif": format_sarif,
}
