"""Output formats of `check`: text (flake8's), json, github (workflow annotations), sarif (2.1.0).

Columns are 1-based everywhere, as flake8 prints them. A finding in a notebook is at a line of a
code cell, not of the .ipynb file: text and json say `cell N`, and the github and sarif formats,
which point into the file, put the cell and line in the message and give no line of their own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence
from urllib.parse import quote

from .. import __version__
from ..diagnostics import Diagnostic
from .check import FileResult

# The rule documentation (github names, sarif descriptors) loads the rules, and with them libcst:
# imported where used, so the plain text output of a run served from the cache does not pay for it.
if TYPE_CHECKING:
    from ..docs import RuleDoc

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SOURCE_ROOT = "%SRCROOT%"  # SARIF's conventional base for paths relative to the repository


def _rows(results: Sequence[FileResult]) -> Iterator[tuple[FileResult, Diagnostic]]:
    for result in results:
        for diagnostic in result.diagnostics:
            yield result, diagnostic


def cell_prefix(diagnostic: Diagnostic) -> str:
    return f"cell {diagnostic.cell}, line {diagnostic.line}: " if diagnostic.cell is not None else ""


# -- text ------------------------------------------------------------------------------------------


def location(result: FileResult, diagnostic: Diagnostic) -> str:
    """`path:line:col`; `nb.ipynb:cell N:line L:col` in notebooks."""
    if diagnostic.cell is not None:
        return f"{result.path}:cell {diagnostic.cell}:line {diagnostic.line}:{diagnostic.col + 1}"
    return f"{result.path}:{diagnostic.line}:{diagnostic.col + 1}"


def format_text(results: Sequence[FileResult]) -> str:
    return "".join(f"{location(r, d)}: {d.code} {d.message}\n" for r, d in _rows(results))


# -- json ------------------------------------------------------------------------------------------


def as_dict(result: FileResult, diagnostic: Diagnostic) -> dict:
    site = diagnostic.site
    return {
        "path": str(result.path),
        "cell": diagnostic.cell,
        "line": diagnostic.line,
        "column": diagnostic.col + 1,
        "code": diagnostic.code,
        "message": diagnostic.message,
        "function": diagnostic.function,
        "state": diagnostic.state,
        "path_from_site": list(diagnostic.path),
        "site": None
        if site is None
        else {
            "cell": getattr(site, "cell", None),  # set for notebooks (notebooks.NotebookTraceSite)
            "line": site.line,
            "column": site.col + 1,
            "transform": site.transform,
            "function": site.function,
        },
        "related": [{"path": path, "line": line, "message": text} for path, line, text in diagnostic.related],
    }


def format_json(results: Sequence[FileResult]) -> str:
    return json.dumps([as_dict(r, d) for r, d in _rows(results)], indent=2) + "\n"


# -- github ----------------------------------------------------------------------------------------


def _escape_property(value: str) -> str:
    """As @actions/core escapes a workflow command's property values."""
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _escape_data(value: str) -> str:
    """As @actions/core escapes a workflow command's message."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_annotation(result: FileResult, diagnostic: Diagnostic) -> str:
    """`::warning file=F,line=L,col=C,title=T::message`, GitHub's workflow command for an annotation."""
    properties = {"file": result.path.as_posix()}
    if diagnostic.cell is None:
        properties.update(line=str(diagnostic.line), col=str(diagnostic.col + 1))
    properties["title"] = f"{diagnostic.code} ({_rule_name(diagnostic.code)})"
    rendered = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    message = f"{cell_prefix(diagnostic)}{diagnostic.code} {diagnostic.message}"
    return f"::warning {rendered}::{_escape_data(message)}\n"


def format_github(results: Sequence[FileResult]) -> str:
    return "".join(github_annotation(r, d) for r, d in _rows(results))


def _rule_name(code: str) -> str:
    from ..docs import docs_by_code

    doc = docs_by_code().get(code)
    return doc.name if doc else code


# -- sarif -----------------------------------------------------------------------------------------


def sarif_rules() -> list[dict]:
    """Every code's reportingDescriptor: what it flags, help text and a link to its page."""
    from ..docs import rule_docs

    return [
        {
            "id": doc.code,
            "name": doc.name,
            "shortDescription": {"text": doc.summary},
            "fullDescription": {"text": _plain(doc.sections["What it does"])},
            "help": _help(doc),
            "defaultConfiguration": {"level": _level(doc.code)},
            "properties": {"tags": ["jax", "jit"] + (["analysis"] if doc.code.startswith("JPL0") else ["correctness"])},
        }
        for doc in rule_docs()
    ]


def _help(doc: RuleDoc) -> dict:
    from ..docs import help_markdown

    text = f"{_plain(doc.sections['Why is this bad?'])} The full page: `{doc.command}`."
    return {"text": text, "markdown": help_markdown(doc)}


def _plain(markdown: str) -> str:
    return " ".join(markdown.split())


def _level(code: str) -> str:
    # A file that could not be analysed is not a bug in it: a note, which code scanning keeps apart.
    return "note" if code.startswith("JPL0") else "warning"


def artifact_location(path: Path) -> dict:
    """A relative URI under %SRCROOT% (the working directory) where possible, else a file:// URI."""
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(Path.cwd())
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": SOURCE_ROOT}


def _folder_uri(folder: Path) -> str:
    uri = folder.as_uri()
    return uri if uri.endswith("/") else uri + "/"  # a base URI must end with a slash


def sarif_result(result: FileResult, diagnostic: Diagnostic, rule_index: dict[str, int]) -> dict:
    physical: dict = {"artifactLocation": artifact_location(result.path)}
    if diagnostic.cell is None:
        physical["region"] = {"startLine": diagnostic.line, "startColumn": diagnostic.col + 1}
    entry = {
        "ruleId": diagnostic.code,
        "ruleIndex": rule_index[diagnostic.code],
        "level": _level(diagnostic.code),
        "message": {"text": f"{cell_prefix(diagnostic)}{diagnostic.message}"},
        "locations": [{"physicalLocation": physical}],
    }
    if diagnostic.related:
        entry["relatedLocations"] = [
            {
                "id": index,
                "physicalLocation": {"artifactLocation": artifact_location(Path(path)), "region": {"startLine": line}},
                "message": {"text": text},
            }
            for index, (path, line, text) in enumerate(diagnostic.related)
        ]
    if diagnostic.cell is not None:
        entry["properties"] = {"cell": diagnostic.cell, "cellLine": diagnostic.line, "cellColumn": diagnostic.col + 1}
    return entry


def format_sarif(results: Sequence[FileResult]) -> str:
    rules = sarif_rules()
    rule_index = {rule["id"]: index for index, rule in enumerate(rules)}
    run = {
        "tool": {
            "driver": {
                "name": "jax-purity-lint",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "invocations": [{"executionSuccessful": True}],
        "originalUriBaseIds": {SOURCE_ROOT: {"uri": _folder_uri(Path.cwd())}},
        # libcst counts columns in code points; SARIF's default is UTF-16 code units.
        "columnKind": "unicodeCodePoints",
        "results": [sarif_result(r, d, rule_index) for r, d in _rows(results)],
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"


FORMATTERS: dict[str, Callable[[Sequence[FileResult]], str]] = {
    "text": format_text,
    "json": format_json,
    "github": format_github,
    "sarif": format_sarif,
}
