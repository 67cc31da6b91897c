"""`jax-purity-lint server`: the real server over stdio, driven by pytest-lsp's client (one server
for the module): diagnostics, code actions and their edits, configuration, hover, failures."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from jax_purity_lint.docs import docs_by_code, render_page
from jax_purity_lint.rewrites.planner import fix_source
from jax_purity_lint.surfaces.lsp import DEBOUNCE_SECONDS, PREVIEW_TITLE, noqa_edit

in_server = pytest.mark.asyncio(loop_scope="module")

BUGGY = "import jax\ng = 0.0\n@jax.jit\ndef f(x):\n    return x + g\nf(1.0)\ng = 1.0\n"
PRINTS = "import jax\n@jax.jit\ndef f(x):\n    print(x)\n    return x\nf(1.0)\n"
RECORDS = "import jax\nhistory = []\n@jax.jit\ndef update(x):\n    history.append(x)\n    return x\nupdate(1.0)\n"
TIMEOUT = 20


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=[sys.executable, "-m", "jax_purity_lint", "server"]),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("visual-studio-code"))
    )
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project of its own: nothing above tmp_path configures the documents."""
    (tmp_path / "pyproject.toml").write_text("[tool.jax_purity_lint]\n")
    return tmp_path


async def published(client: LanguageClient, uri: str) -> types.PublishDiagnosticsParams:
    """The next diagnostics published for `uri` (others' are skipped)."""
    while True:
        params = await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), TIMEOUT)
        if params.uri == uri:
            return params


async def kept_diagnostics(client: LanguageClient, uri: str, wanted) -> list[types.Diagnostic]:
    """The diagnostics the client holds for `uri` once `wanted(them)` (polled: several publications
    can arrive between two waits for the next one)."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        found = list(client.diagnostics.get(uri, []))
        if uri in client.diagnostics and wanted(found):
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no wanted diagnostics for {uri}: {found}")
        await asyncio.sleep(0.05)


async def open_document(client: LanguageClient, path: Path, text: str) -> types.PublishDiagnosticsParams:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        )
    )
    return await published(client, uri)


def change(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def codes(params: types.PublishDiagnosticsParams) -> list[str]:
    return [d.code for d in params.diagnostics]


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    """The edits applied as an editor would (ASCII text, `\\n` line breaks)."""
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)

    def offset(position: types.Position) -> int:
        return starts[position.line] + position.character

    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
    return text


def the_edit(action: types.CodeAction, uri: str) -> list[types.TextEdit]:
    assert action.edit is not None and list(action.edit.changes) == [uri]
    return action.edit.changes[uri]


async def actions_at(client: LanguageClient, uri: str, line: int) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return list(result or [])


@in_server
async def test_open_publishes_jpl100_at_the_read_of_the_global(client, folder):
    found = await open_document(client, folder / "model.py", BUGGY)
    assert codes(found) == ["JPL100"]
    diagnostic = found.diagnostics[0]
    assert diagnostic.source == "jax-purity-lint" and diagnostic.code_description is None
    assert diagnostic.range == types.Range(
        start=types.Position(line=4, character=15), end=types.Position(line=4, character=16)
    )  # the `g` of `return x + g`
    assert "reads global `g`" in diagnostic.message
    assert found.version == 1


@in_server
async def test_code_actions_offer_noqa_and_the_safe_fix_and_both_edits_work(client, folder):
    uri = (folder / "model.py").as_uri()
    await open_document(client, folder / "model.py", BUGGY)
    actions = await actions_at(client, uri, 4)
    titles = [a.title for a in actions]
    summary = fix_source(BUGGY, str(folder / "model.py")).rewrites[0].summary  # what `fix` would say
    assert titles == ["Disable JPL100 for this line", f"Fix JPL100: {summary}"]
    noqa, fix = actions
    assert noqa.kind == fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred
    assert await actions_at(client, uri, 1) == []  # nothing on `g = 0.0`

    fixed = apply_edits(BUGGY, the_edit(fix, uri))
    assert "def f(x, g):" in fixed and "f(1.0, g)" in fixed
    change(client, uri, 2, fixed)
    after = await published(client, uri)
    assert after.version == 2 and "JPL100" not in codes(after)

    silenced = apply_edits(BUGGY, the_edit(noqa, uri))
    assert silenced.splitlines()[4] == "    return x + g  # noqa: JPL100"
    change(client, uri, 3, silenced)
    assert codes(await published(client, uri)) == []


@in_server
async def test_a_needs_review_rewrite_is_only_a_preview(client, folder):
    uri = (folder / "records.py").as_uri()
    assert codes(await open_document(client, folder / "records.py", RECORDS)) == ["JPL102"]
    actions = await actions_at(client, uri, 4)
    assert [a.title for a in actions] == ["Disable JPL102 for this line", PREVIEW_TITLE]
    preview = actions[1]
    assert preview.kind == types.CodeActionKind.RefactorRewrite and not preview.is_preferred
    rewritten = apply_edits(RECORDS, the_edit(preview, uri))
    assert "JPL102 (needs review)" in rewritten and "def update(x, history):" in rewritten


@in_server
async def test_changes_are_debounced_and_introducing_print_publishes_jpl400(client, folder):
    uri = (folder / "model.py").as_uri()
    await open_document(client, folder / "model.py", BUGGY)
    change(client, uri, 2, BUGGY.replace("return x + g", "return x"))
    change(client, uri, 3, PRINTS)  # within the debounce delay: the lint of version 2 never runs
    found = await published(client, uri)
    assert found.version == 3 and codes(found) == ["JPL400"]
    assert found.diagnostics[0].range.start == types.Position(line=3, character=4)
    assert found.diagnostics[0].range.end == types.Position(line=3, character=9)  # `print`
    await asyncio.sleep(2 * DEBOUNCE_SECONDS)
    assert client.diagnostics[uri] is found.diagnostics, "published again: the first change's lint was not cancelled"


@in_server
async def test_the_projects_ignore_applies_and_is_read_again_on_save(client, folder):
    sub = folder / "sub"
    sub.mkdir()
    uri = (sub / "printer.py").as_uri()
    assert codes(await open_document(client, sub / "printer.py", PRINTS)) == ["JPL400"]
    (sub / "pyproject.toml").write_text('[tool.jax_purity_lint]\nignore = ["JPL400"]\n')
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert codes(await published(client, uri)) == []
    assert await actions_at(client, uri, 3) == []  # nothing reported, nothing offered


@in_server
async def test_hover_shows_the_rule_page_on_a_flagged_line_only(client, folder):
    uri = (folder / "model.py").as_uri()
    await open_document(client, folder / "model.py", BUGGY)

    async def hover(line: int):
        return await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=5)
            )
        )

    found = await hover(4)
    assert found.contents.kind == types.MarkupKind.Markdown
    assert found.contents.value == render_page(docs_by_code()["JPL100"])
    assert await hover(1) is None


@in_server
async def test_a_bad_configuration_is_logged_and_the_server_keeps_serving(client, folder):
    (folder / "pyproject.toml").write_text('[tool.jax_purity_lint]\nselect = ["NOPE1"]\n')
    before = len(client.log_messages)
    assert codes(await open_document(client, folder / "model.py", BUGGY)) == []
    logged = [m.message for m in client.log_messages[before:]]
    assert any("cannot lint" in m and "unknown code or prefix 'NOPE1'" in m for m in logged), logged
    assert await actions_at(client, (folder / "model.py").as_uri(), 4) == []  # a failed request answers nothing
    assert any("code action failed" in m.message for m in client.log_messages[before:])

    (folder / "pyproject.toml").write_text("[tool.jax_purity_lint]\n")
    change(client, (folder / "model.py").as_uri(), 2, BUGGY)
    assert codes(await published(client, (folder / "model.py").as_uri())) == ["JPL100"]


@in_server
async def test_notebooks_are_not_linted(client, folder):
    notebook, module = (folder / "nb.ipynb").as_uri(), (folder / "model.py").as_uri()
    for uri in (notebook, module):
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=BUGGY)
            )
        )
    # Messages are handled in order: had the notebook been linted, its publication would come first.
    params = await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), TIMEOUT)
    assert params.uri == module and codes(params) == ["JPL100"]
    assert notebook not in client.diagnostics


@in_server
async def test_a_notebook_synced_as_cells_gets_each_cells_diagnostics_and_updates_on_change(client, folder):
    notebook = (folder / "nb.ipynb").as_uri()
    cells = [f"vscode-notebook-cell:{(folder / 'nb.ipynb').as_posix()}#cell{n}" for n in range(3)]
    texts = ["import jax\ng = 0.0", "# a markdown cell", "@jax.jit\ndef f(x):\n    return x + g\nf(1.0)\ng = 1.0"]
    kinds = [types.NotebookCellKind.Code, types.NotebookCellKind.Markup, types.NotebookCellKind.Code]
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=notebook, notebook_type="jupyter-notebook", version=1,
                cells=[types.NotebookCell(kind=kind, document=cell) for kind, cell in zip(kinds, cells)],
            ),
            cell_text_documents=[
                types.TextDocumentItem(uri=cell, language_id="python" if kind == types.NotebookCellKind.Code else "markdown",
                                       version=1, text=text)
                for cell, kind, text in zip(cells, kinds, texts)
            ],
        )
    )
    # Each code cell gets its own list, published back to back: read from what the client has kept.
    third = await kept_diagnostics(client, cells[2], lambda found: bool(found))
    assert list(client.diagnostics[cells[0]]) == [] and cells[1] not in client.diagnostics
    assert [d.code for d in third] == ["JPL100"]
    assert third[0].range.start == types.Position(line=2, character=15)  # the `g`, in its cell
    assert "rebound at cell 2, line 5" in third[0].message  # the second code cell
    # The last line of the cell no longer rebinds `g`: the finding goes away.
    client.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=notebook, version=2),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    text_content=[types.NotebookDocumentCellContentChanges(
                        document=types.VersionedTextDocumentIdentifier(uri=cells[2], version=2),
                        changes=[types.TextDocumentContentChangeWholeDocument(text=texts[2].replace("g = 1.0", "h = 1.0"))],
                    )]
                )
            ),
        )
    )
    assert await kept_diagnostics(client, cells[2], lambda found: not found) == []


def test_noqa_edit_merges_into_an_existing_list_and_appends_otherwise():
    edit = noqa_edit("    return x + g  # noqa: JPL400", 4, "JPL100")
    line = "    return x + g  # noqa: JPL400"
    merged = line[: edit.range.start.character] + edit.new_text + line[edit.range.end.character:]
    assert merged == "    return x + g  # noqa: JPL400, JPL100"
    appended = noqa_edit("    return x + g   ", 4, "JPL100")
    assert appended.range.start.character == appended.range.end.character == 16
    assert appended.new_text == "  # noqa: JPL100"
    assert noqa_edit("    y = x + \\", 4, "JPL100") is None


def test_without_pygls_the_server_says_which_extra_to_install_and_other_commands_never_load_it(tmp_path):
    hide = "import sys; sys.modules['pygls'] = None; from jax_purity_lint.cli import main; "
    result = subprocess.run(
        [sys.executable, "-c", hide + "sys.exit(main(['server']))"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "install the lsp extra: pip install -e '.[lsp]'" in result.stderr
    (tmp_path / "clean.py").write_text("x = 1\n")
    check = "import sys; from jax_purity_lint.cli import main; code = main(['check', sys.argv[1]]); "
    result = subprocess.run(
        [sys.executable, "-c", check + "sys.exit(10 + code if 'pygls' in sys.modules else code)", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_editor_configurations_in_the_docs_parse_and_run_the_server():
    import json
    import re
    import tomllib

    page = (Path(__file__).resolve().parents[1] / "docs" / "editors.md").read_text(encoding="utf-8")
    blocks = dict(re.findall(r"```(json|toml)\n(.*?)```", page, re.DOTALL))
    vscode = json.loads(blocks["json"])
    assert [vscode["glspc.server.command"], *vscode["glspc.server.commandArguments"]] == ["jax-purity-lint", "server"]
    helix = tomllib.loads(blocks["toml"])
    server = helix["language-server"]["jax-purity-lint"]
    assert [server["command"], *server["args"]] == ["jax-purity-lint", "server"]
    assert "jax-purity-lint" in helix["language"][0]["language-servers"]
    assert page.count('{ "jax-purity-lint", "server" }') == 2  # the two Neovim configurations


@in_server
async def test_another_modules_unsaved_buffer_is_read_in_place_of_its_file(client, folder):
    """`config.py` on disk only binds `LR`; its open buffer adds a setter that rebinds it. `train.py`
    (jitted `step` reading `config.LR`) gets the JPL100 while the buffer is open, unsaved, and loses
    it when the buffer is closed without saving. The file on disk is never written."""
    disk_config = "LR = 0.1\n"
    (folder / "config.py").write_text(disk_config)
    train = folder / "train.py"
    train_text = "import jax\n\nimport config\n\n\n@jax.jit\ndef step(x):\n    return x * config.LR\n"
    train.write_text(train_text)
    assert codes(await open_document(client, train, train_text)) == []

    setter = disk_config + "\n\ndef set_lr(value):\n    global LR\n    LR = value\n"
    config_uri = (folder / "config.py").as_uri()
    await open_document(client, folder / "config.py", setter)
    found = await kept_diagnostics(client, train.as_uri(), lambda ds: [d.code for d in ds] == ["JPL100"])
    assert "config.LR" in found[0].message and found[0].range.start.line == 7

    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=config_uri)))
    await kept_diagnostics(client, train.as_uri(), lambda ds: ds == [])
    assert (folder / "config.py").read_text() == disk_config
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=train.as_uri())))
