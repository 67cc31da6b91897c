"""`jax-purity-lint server`: a Language Server over stdio (pygls), for any editor with an LSP client.

What it does, for `file:` URIs of `.py` files, and for Jupyter notebooks the client syncs as notebook
documents (LSP 3.17 `notebookDocument/*`; other schemes and a notebook opened as plain text are left
alone):

- diagnostics of the unsaved buffer on open, change (debounced) and save, under the configuration
  `check` would use for that path (the nearest pyproject.toml with our table; select, ignore, `# noqa`);
  a notebook's code cells are linted together, as `check` joins them, and each cell gets its own;
  the other modules of the project are read from their open buffers where the editor has them, so
  an unsaved change to `config.py` shows in `train.py` (the open files naming `config` are linted
  again), and closing the buffer brings back the file on disk;
- code actions: `# noqa: JPLxxx` for the line, the safe rewrite `fix` would write for that finding,
  or a preview of the needs-review rewrite;
- hover on a flagged line: the rule's page (`.py` files; in notebooks, diagnostics only).

It never writes a file: every edit is offered to the editor, which applies it to the buffer.
"""

from __future__ import annotations

import asyncio
import re
from typing import Callable, Optional
from pathlib import Path
from urllib.parse import urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from .. import __version__
from ..analysis.project_index import shared_index
from ..diagnostics import Diagnostic
from ..source.lines import LINE_BREAK
from .check import check_source
from .config import Config
from .noqa import NOQA_INLINE
from .notebooks import check_notebook_data
from .project import Project

SOURCE = "jax-purity-lint"
DEBOUNCE_SECONDS = 0.3
FAILURE_CODE = "JPL001"
TOKEN = re.compile(r"[\w.]+")
PREVIEW_TITLE = "Preview the explicit-state rewrite (needs review)"


# --- positions -------------------------------------------------------------------------------


def lines_of(text: str) -> list[str]:
    """The document's lines as LSP counts them (`\\r\\n`, `\\r`, `\\n`), without their breaks."""
    return LINE_BREAK.split(text)


def utf16_length(text: str) -> int:
    """LSP columns count UTF-16 code units; Python's count code points."""
    return len(text.encode("utf-16-le")) // 2


def diagnostic_range(diagnostic: Diagnostic, lines: list[str]) -> types.Range:
    """From the diagnostic's column to the end of the token there (a name, a dotted name), or of the line."""
    line = max(diagnostic.line - 1, 0)
    text = lines[line] if line < len(lines) else ""
    col = min(max(diagnostic.col, 0), len(text))
    token = TOKEN.match(text, col)
    end = token.end() if token else len(text.rstrip())
    if end <= col:
        end = len(text)
    return types.Range(
        start=types.Position(line=line, character=utf16_length(text[:col])),
        end=types.Position(line=line, character=utf16_length(text[:end])),
    )


def whole_document(text: str) -> types.Range:
    lines = lines_of(text)
    return types.Range(
        start=types.Position(line=0, character=0),
        end=types.Position(line=len(lines) - 1, character=utf16_length(lines[-1])),
    )


# --- analysis --------------------------------------------------------------------------------


def lintable(uri: str) -> bool:
    """Only files on disk with a `.py` name: notebooks (and their cells' URIs) are not supported."""
    parsed = urlparse(uri)
    return parsed.scheme == "file" and parsed.path.endswith(".py")


def config_for(path: str) -> Config:
    """Read afresh each time, so an edited pyproject.toml applies at the next change. Raises ConfigError."""
    return Project().config_for(path)


def lint(text: str, path: str) -> list[Diagnostic]:
    """What `check` reports for this text at this path (excludes aside: an open file is always linted)."""
    return list(check_source(text, Path(path), config_for(path)).diagnostics)


def lint_cells(cells: list[str], path: str) -> list[Diagnostic]:
    """What `check` reports for a notebook whose code cells hold these texts: each diagnostic's `cell`
    (1-based, among the code cells) and `line` (in that cell)."""
    notebook = {"cells": [{"cell_type": "code", "source": text} for text in cells], "metadata": {}}
    return check_notebook_data(notebook, Path(path), config_for(path))


def to_lsp(diagnostic: Diagnostic, lines: list[str]) -> types.Diagnostic:
    severity = types.DiagnosticSeverity.Error if diagnostic.code == FAILURE_CODE else types.DiagnosticSeverity.Warning
    return types.Diagnostic(
        range=diagnostic_range(diagnostic, lines),
        message=diagnostic.message,
        severity=severity,
        code=diagnostic.code,
        source=SOURCE,
    )


# --- code actions ----------------------------------------------------------------------------


def noqa_edit(line_text: str, line: int, code: str) -> Optional[types.TextEdit]:
    """Add `code` to the line's `# noqa: ...` list, or append `  # noqa: CODE`. None when a comment
    cannot go there (a backslash continuation)."""
    match = NOQA_INLINE.search(line_text)
    if match is not None and match.group("codes"):
        codes = [c for c in re.split(r"[,\s]+", match.group("codes").strip()) if c]
        merged = "# noqa: " + ", ".join([*codes, code])
        start, end = match.start(), match.end("codes")
        new_text = merged + (" " if line_text[end - 1:end].isspace() else "")
    elif line_text.rstrip().endswith("\\"):
        return None
    else:
        start = end = len(line_text.rstrip())
        new_text = f"  # noqa: {code}"
    return types.TextEdit(
        range=types.Range(
            start=types.Position(line=line, character=utf16_length(line_text[:start])),
            end=types.Position(line=line, character=utf16_length(line_text[:end])),
        ),
        new_text=new_text,
    )


def replace_document(uri: str, text: str, rewritten: str) -> types.WorkspaceEdit:
    return types.WorkspaceEdit(changes={uri: [types.TextEdit(range=whole_document(text), new_text=rewritten)]})


def only(diagnostic: Diagnostic) -> Callable[[Diagnostic], bool]:
    return lambda d: d.code == diagnostic.code and d.line == diagnostic.line


def rewrite_actions(uri: str, text: str, path: str, diagnostic: Diagnostic, lsp: types.Diagnostic):
    """The safe rewrite `fix` would write for this finding, else a preview of the needs-review one."""
    from ..rewrites.planner import fix_source

    settings = config_for(path).settings
    safe = fix_source(text, path, settings=settings, wanted=only(diagnostic))
    applied = [r for r in safe.rewrites if r.applied and r.safe and diagnostic.code in r.codes]
    if applied and safe.rewritten != text:
        return [types.CodeAction(
            title=f"Fix {diagnostic.code}: {applied[0].summary}",
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[lsp],
            is_preferred=True,
            edit=replace_document(uri, text, safe.rewritten),
        )]
    unsafe = fix_source(text, path, settings=settings, wanted=only(diagnostic), unsafe=True)
    if any(r.applied and not r.safe for r in unsafe.rewrites) and unsafe.rewritten != text:
        return [types.CodeAction(
            title=PREVIEW_TITLE,
            kind=types.CodeActionKind.RefactorRewrite,
            diagnostics=[lsp],
            edit=replace_document(uri, text, unsafe.rewritten),
        )]
    return []


def code_actions(uri: str, text: str, path: str, wanted: types.Range) -> list[types.CodeAction]:
    lines = lines_of(text)
    actions = []
    for diagnostic in lint(text, path):
        line = diagnostic.line - 1
        if not wanted.start.line <= line <= wanted.end.line or line >= len(lines):
            continue
        lsp = to_lsp(diagnostic, lines)
        edit = noqa_edit(lines[line], line, diagnostic.code)
        if edit is not None:
            actions.append(types.CodeAction(
                title=f"Disable {diagnostic.code} for this line",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[lsp],
                edit=types.WorkspaceEdit(changes={uri: [edit]}),
            ))
        if diagnostic.code != FAILURE_CODE:
            actions.extend(rewrite_actions(uri, text, path, diagnostic, lsp))
    return actions


# --- hover -----------------------------------------------------------------------------------


def hover_text(text: str, path: str, line: int) -> Optional[str]:
    """The pages of the codes reported on `line` (0-based), as markdown; None if none is."""
    from ..docs import docs_by_code, render_page

    docs = docs_by_code()
    codes = dict.fromkeys(d.code for d in lint(text, path) if d.line - 1 == line and d.code in docs)
    if not codes:
        return None
    return "\n\n---\n\n".join(render_page(docs[code]) for code in codes)


# --- the server ------------------------------------------------------------------------------


class PurityServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "jax-purity-lint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full,
            notebook_document_sync=types.NotebookDocumentSyncOptions(
                notebook_selector=[types.NotebookDocumentFilterWithCells(
                    notebook="jupyter-notebook", cells=[types.NotebookCellLanguage(language="python")]
                )],
                save=True,
            ),
        )
        self.pending: dict[str, asyncio.Task] = {}

    def log(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def document(self, uri: str) -> TextDocument:
        return self.workspace.get_text_document(uri)

    def publish(self, uri: str) -> None:
        """Lint the buffer as it is now; a failure is logged and publishes no diagnostics."""
        if not lintable(uri):
            return
        document = self.document(uri)
        try:
            lines = lines_of(document.source)
            found = [to_lsp(d, lines) for d in lint(document.source, document.path)]
        except Exception as error:  # whatever it is, the server must stay up
            self.log(f"jax-purity-lint: cannot lint {document.path}: {type(error).__name__}: {error}")
            found = []
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=found, version=document.version)
        )

    def publish_notebook(self, uri: str) -> None:
        """Lint the notebook's code cells as they are now and publish each cell's diagnostics."""
        notebook = self.workspace.get_notebook_document(notebook_uri=uri)
        if notebook is None or urlparse(uri).scheme != "file":
            return
        cells = [c for c in notebook.cells if c.kind == types.NotebookCellKind.Code]
        documents = [self.document(cell.document) for cell in cells]
        by_cell: dict[int, list[types.Diagnostic]] = {number: [] for number in range(1, len(cells) + 1)}
        path = Path(urlparse(uri).path)
        try:
            texts = [document.source for document in documents]
            for diagnostic in lint_cells(texts, str(path)):
                cell = diagnostic.cell or 1  # a failure of the whole notebook: shown on its first cell
                if cell in by_cell:
                    by_cell[cell].append(to_lsp(diagnostic, lines_of(texts[cell - 1])))
        except Exception as error:  # whatever it is, the server must stay up
            self.log(f"jax-purity-lint: cannot lint {path}: {type(error).__name__}: {error}")
        for number, document in enumerate(documents, start=1):
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=document.uri, diagnostics=by_cell[number], version=document.version)
            )

    def cancel_pending(self, uri: str) -> None:
        task = self.pending.pop(uri, None)
        if task is not None:
            task.cancel()

    def schedule(self, uri: str) -> None:
        """Debounced: a change cancels the lint the previous one was waiting to run."""
        self.cancel_pending(uri)
        self.pending[uri] = asyncio.get_running_loop().create_task(self._publish_later(uri))

    async def _publish_later(self, uri: str) -> None:
        await asyncio.sleep(DEBOUNCE_SECONDS)
        self.pending.pop(uri, None)
        self.refresh(uri)

    def refresh(self, uri: str) -> None:
        """Publish now (a save, or the debounce is over): for a notebook, each of its cells; for a
        file, also the open files importing it, when its buffer changed what they read."""
        self.cancel_pending(uri)
        if self.workspace.get_notebook_document(notebook_uri=uri) is not None:
            self.publish_notebook(uri)
            return
        self.publish_buffer(uri)

    def publish_buffer(self, uri: str) -> None:
        """Publish a file's diagnostics, its buffer read by the other modules in place of the file;
        when that changes what they read, the open files that may import it are published again."""
        if not lintable(uri):
            return
        document = self.document(uri)
        changed = shared_index().use_buffer(document.path, document.source)
        self.publish(uri)
        if changed:
            self.publish_importers(uri)

    def publish_importers(self, uri: str) -> None:
        """The other open files naming the module of `uri` (its file's stem, as a word)."""
        path = to_fs_path(uri)
        if path is None:
            return
        word = re.compile(rf"\b{re.escape(Path(path).stem)}\b")
        for other, document in list(self.workspace.text_documents.items()):
            if other != uri and lintable(other) and other not in self.pending and word.search(document.source):
                self.publish(other)

    def forget(self, uri: str) -> None:
        """A closed file is read from disk again by the others, and its diagnostics are cleared."""
        self.cancel_pending(uri)
        if not lintable(uri):
            return
        self.clear([uri])
        path = to_fs_path(uri)
        if path is not None and shared_index().drop_buffer(path):
            self.publish_importers(uri)

    def clear(self, uris) -> None:
        for uri in uris:
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def guarded(self, what: str, answer: Callable[[], object]):
        """A request's answer, or None (and a log message) if computing it failed."""
        try:
            return answer()
        except Exception as error:  # the request fails quietly; the server stays up
            self.log(f"jax-purity-lint: {what} failed: {type(error).__name__}: {error}")
            return None


def build_server() -> PurityServer:
    server = PurityServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: PurityServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.publish_buffer(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: PurityServer, params: types.DidChangeTextDocumentParams) -> None:
        if lintable(params.text_document.uri):
            ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: PurityServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: PurityServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_did_open(ls: PurityServer, params: types.DidOpenNotebookDocumentParams) -> None:
        ls.publish_notebook(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    async def notebook_did_change(ls: PurityServer, params: types.DidChangeNotebookDocumentParams) -> None:
        ls.schedule(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_did_save(ls: PurityServer, params: types.DidSaveNotebookDocumentParams) -> None:
        ls.refresh(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_did_close(ls: PurityServer, params: types.DidCloseNotebookDocumentParams) -> None:
        ls.cancel_pending(params.notebook_document.uri)
        ls.clear([cell.uri for cell in params.cell_text_documents])

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite]
        ),
    )
    def code_action(ls: PurityServer, params: types.CodeActionParams):
        uri = params.text_document.uri
        if not lintable(uri):
            return None
        document = ls.document(uri)
        return ls.guarded("code action", lambda: code_actions(uri, document.source, document.path, params.range))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: PurityServer, params: types.HoverParams):
        uri = params.text_document.uri
        if not lintable(uri):
            return None
        document = ls.document(uri)
        page = ls.guarded("hover", lambda: hover_text(document.source, document.path, params.position.line))
        if page is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=page))

    return server


def main() -> int:
    build_server().start_io()
    return 0
