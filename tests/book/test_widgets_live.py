"""The temperature and gate explorers, live: JupyterLab in the book test's headless Chromium.

One JupyterLab for the module (127.0.0.1, a port of its own, a token, a temporary root folder; see
labtest.py) serves two notebooks made from the student notebooks of char_lm and gates: the answers
filled from the solutions and only the cells the explorer cell needs (smoke profile). Both are
opened in one JupyterLab page and run at once. Then, as a student would:

* the temperature slider is dragged to its right end: the sample text must change, and show the
  kernel's new sample at T = 2;
* the next gate is picked in the gate menu: the heatmap must change, and show
  the kernel's new image.

Every wait has a deadline and says what did not happen. What the book shows in their place is
checked in test_widgets_book.py.
"""

from __future__ import annotations

import json
import time

import nbformat
import pytest
from chromium_cdp import INSTALL_HINT, Chromium, find_chromium
import labtest
from labtest import EXPLORERS, GATES, TEMPERATURE, JupyterLab, explorer_notebook

#: Seconds to wait for: the JupyterLab page, both notebooks to run, a widget view to change.
PAGE_SECONDS, RUN_SECONDS, CHANGE_SECONDS = 90, 240, 60

#: Installed once in the JupyterLab page (window.jupyterapp, exposed by the server's settings):
#: what the test asks of the notebooks. Paths are the notebooks' paths in the server's root.
PAGE_HELPERS = r"""
window.courseTest = {
  runs: {},
  panel(path) {
    const found = [...jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === path);
    if (!found) throw new Error(`${path} is not open in JupyterLab`);
    return found;
  },
  async open(path) {
    const panel = await jupyterapp.commands.execute('docmanager:open', {path: path, factory: 'Notebook'});
    await panel.context.ready;
    await panel.sessionContext.ready;
    return panel.id;
  },
  kernelStatus(path) {
    const kernel = this.panel(path).sessionContext.session?.kernel;
    return kernel ? kernel.status : 'no kernel';
  },
  runAll(path) {  // returns at once; runs[path] says when it is done
    this.runs[path] = {done: false, result: null};
    jupyterapp.commands.execute('notebook:run-all-cells', {widgetId: this.panel(path).id, activate: false})
      .then(result => { this.runs[path] = {done: true, result: String(result)}; },
            error => { this.runs[path] = {done: true, result: 'failed: ' + error}; });
  },
  cells(path) {  // [{type, count, outputs: [output_type], errors: ["ename: evalue"]}]
    return this.panel(path).content.widgets.map(cell => {
      const outputs = cell.model.type === 'code' ? cell.model.outputs.toJSON() : [];
      return {type: cell.model.type, count: cell.model.executionCount ?? null,
              first_line: cell.model.sharedModel.getSource().split('\n')[0],
              outputs: outputs.map(o => o.output_type),
              errors: outputs.filter(o => o.output_type === 'error')
                             .map(o => `${o.ename}: ${o.evalue}\n${(o.traceback || []).slice(-3).join('\n')}`)};
    });
  },
  async show(path) {  // make the notebook the visible tab (a hidden tab's elements have no size)
    jupyterapp.shell.activateById(this.panel(path).id);
    await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
    return true;
  },
  outputText(path) {  // what the output of the notebook's last cell shows, as text
    const cells = this.panel(path).content.widgets;
    return cells[cells.length - 1].node.querySelector('.jp-OutputArea').innerText.slice(0, 300);
  },
  explorerView(path) {  // the widget view in the output of the notebook's last cell
    const cells = this.panel(path).content.widgets;
    return cells[cells.length - 1].node.querySelector('.jp-OutputArea-output .widget-vbox');
  },
  temperature(path) {
    const view = this.explorerView(path);
    const pre = view && view.querySelector('.widget-html-content pre');
    const readout = view && view.querySelector('.widget-readout');
    return pre && readout ? {text: pre.textContent, readout: readout.textContent.trim()} : null;
  },
  async gate(path) {
    const view = this.explorerView(path);
    const select = view && view.querySelector('.widget-dropdown select');
    const image = view && view.querySelector('.widget-image');
    if (!select || !image || !image.complete || !image.naturalWidth) return null;
    const bytes = await (await fetch(image.src)).arrayBuffer();
    const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))]
      .map(b => b.toString(16).padStart(2, '0')).join('');
    return {gate: select.value, options: [...select.options].map(o => o.value), sha256: digest};
  },
  pick(path, option) {  // choose an option of the gate menu as a click in its list does: a change event
    // (the open list of a <select> is drawn outside the page in headless Chromium: nothing to click)
    const select = this.explorerView(path).querySelector('.widget-dropdown select');
    select.value = option;
    select.dispatchEvent(new Event('change', {bubbles: true}));
    return select.value;
  },
  slider(path) {  // where the slider's handle is, and where its track ends (viewport pixels)
    const view = this.explorerView(path);
    view.querySelector('.widget-slider').scrollIntoView({block: 'center'});
    const handle = view.querySelector('.noUi-handle').getBoundingClientRect();
    const track = view.querySelector('.noUi-target').getBoundingClientRect();
    return {x: handle.left + handle.width / 2, y: handle.top + handle.height / 2, trackEnd: track.right};
  },
  async kernelPrint(path, code) {  // what `code` prints in the notebook's kernel
    const future = this.panel(path).sessionContext.session.kernel.requestExecute(
      {code: code, store_history: false});
    let printed = '';
    future.onIOPub = message => {
      if (message.header.msg_type === 'stream') printed += message.content.text;
      if (message.header.msg_type === 'error') printed += `${message.content.ename}: ${message.content.evalue}`;
    };
    await future.done;
    return printed;
  },
};
true;
"""


class LabPage:
    """The JupyterLab page in Chromium, with the test's helpers (PAGE_HELPERS) installed."""

    def __init__(self, browser: Chromium, lab: JupyterLab):
        self.browser, self.lab = browser, lab

    def js(self, expression: str):
        """The (JSON) value of a JavaScript expression in the page."""
        return self.browser.evaluate(expression)

    def helper(self, name: str, *args):
        """Call ``courseTest.name(*args)`` in the page (arguments and result as JSON)."""
        return self.js(f"courseTest.{name}({', '.join(json.dumps(arg) for arg in args)})")

    def wait_for(self, what: str, probe, seconds: float, explain=lambda: ""):
        """Poll ``probe()`` until it returns a true value, and return that; fail after ``seconds``
        saying ``what`` did not happen, with ``explain()`` and the browser's console errors."""
        deadline = time.monotonic() + seconds
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                errors = "\n".join(self.browser.console_errors()[-10:]) or "none"
                pytest.fail(f"{what} did not happen within {seconds:.0f} s. {explain()}\n"
                            f"browser console errors: {errors}\nJupyterLab's log:\n{self.lab.log(2000)}",
                            pytrace=False)
            time.sleep(0.25)

    def load(self) -> None:
        """Open JupyterLab (a fresh workspace), wait until it has restored, install the helpers."""
        self.browser.call("Page.navigate", url=self.lab.lab_url())
        self.wait_for("JupyterLab's page exposing window.jupyterapp", lambda: self.js("!!window.jupyterapp"),
                      PAGE_SECONDS)
        self.wait_for("JupyterLab restoring its layout", lambda: self.js(
            "window.__restored || (jupyterapp.restored.then(() => { window.__restored = true; }), false)"),
            PAGE_SECONDS)
        self.js(PAGE_HELPERS)

    def run_all(self, paths) -> None:
        """Open the notebooks and run all their cells, all notebooks at once; fail on a cell error."""
        for path in paths:
            self.helper("open", path)
        for path in paths:
            self.wait_for(f"the kernel of {path} becoming idle", lambda: self.helper("kernelStatus", path) == "idle",
                          RUN_SECONDS, lambda: f"Its status: {self.helper('kernelStatus', path)}.")
            self.helper("runAll", path)
        for path in paths:
            self.wait_for(f"running all cells of {path}", lambda: self.js(f"courseTest.runs[{json.dumps(path)}].done"),
                          RUN_SECONDS, lambda: f"Cells run so far: {self.helper('cells', path)}")
        cells = {path: self.helper("cells", path) for path in paths}
        for path in paths:
            errors = [f"cell {index} ({cell['first_line']}): {error}"
                      for index, cell in enumerate(cells[path]) for error in cell["errors"]]
            assert not errors, f"{path} raised:\n" + "\n".join(errors)
            run = self.js(f"courseTest.runs[{json.dumps(path)}].result")
            assert run == "true", f"running all cells of {path} ended with {run!r}"
            unrun = [cell["first_line"] for cell in cells[path] if cell["type"] == "code" and cell["count"] is None]
            assert not unrun, f"{path}: cells that did not run: {unrun}"

    def kernel_print(self, path: str, code: str) -> str:
        """What ``code`` prints when run in the kernel of the notebook ``path`` (not in a cell)."""
        return self.helper("kernelPrint", path, code)


def test_a_cell_needs_the_cells_that_bind_what_it_reads():
    cells = [nbformat.v4.new_code_cell(source) for source in (
        "import math", "x = math.pi", "y = 2", "x = 3 * x", "print(y)", "def scale(v):\n    w = v\n    return w * x",
        "scale(y) if False else None")]
    cells.insert(2, nbformat.v4.new_markdown_cell("# a heading"))
    assert labtest.cells_needed_by(cells, len(cells) - 1) == [0, 1, 3, 4, 6, 7]


def test_the_explorer_notebooks_are_the_solved_student_notebooks_cut_to_what_the_explorer_needs():
    notebook = explorer_notebook(TEMPERATURE.chapter, TEMPERATURE.heading)
    graded = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in notebook.cells]
    assert {"given_setup", "given_data", "char_rnn", "next_char_distribution", "sample"} <= set(graded)
    assert not any(cell.source.startswith("# Test:") for cell in notebook.cells), "test cells are not needed"
    assert not [cell.source for cell in notebook.cells if cell.cell_type == "code" and "NotImplementedError" in cell.source]
    assert [cell.cell_type for cell in notebook.cells[-2:]] == ["markdown", "code"]
    assert notebook.cells[-2].source.lstrip("# ").startswith(TEMPERATURE.heading)
    assert TEMPERATURE.constructor in notebook.cells[-1].source


@pytest.fixture(scope="module")
def lab_page(tmp_path_factory):
    """JupyterLab with both explorer notebooks run, open in headless Chromium."""
    executable = find_chromium()
    if executable is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    root, home = tmp_path_factory.mktemp("lab-root"), tmp_path_factory.mktemp("lab-home")
    for explorer in EXPLORERS:
        nbformat.write(explorer_notebook(explorer.chapter, explorer.heading), root / explorer.path)
    with JupyterLab(root, home) as lab:  # starts while Chromium does
        with Chromium(executable, tmp_path_factory.mktemp("lab-chromium") / "profile", timeout=120) as browser:
            lab.wait_until_serving()
            for explorer in EXPLORERS:  # the kernels boot while the page loads
                lab.start_kernel(explorer.path)
            page = LabPage(browser, lab)
            page.load()
            page.run_all([explorer.path for explorer in EXPLORERS])
            yield page


def test_the_notebooks_run_the_explorer_cell_last(lab_page):
    for explorer in EXPLORERS:
        cells = lab_page.helper("cells", explorer.path)
        assert cells[-1]["outputs"] == ["execute_result"], \
            f"{explorer.path}: the explorer cell shows {cells[-1]['outputs']}, not the explorer"
        lab_page.wait_for(f"the {explorer.constructor[:-1]} view rendering in {explorer.path}",
                          lambda: lab_page.js(f"!!courseTest.explorerView({json.dumps(explorer.path)})"),
                          CHANGE_SECONDS, lambda: f"The output shows {lab_page.helper('outputText', explorer.path)!r}.")


def test_moving_the_temperature_slider_resamples_the_text(lab_page):
    path = TEMPERATURE.path
    before = lab_page.wait_for("the temperature explorer showing a sample and the slider's readout",
                               lambda: lab_page.helper("temperature", path), CHANGE_SECONDS)
    assert before["readout"] == "0.80", f"the slider starts at {before['readout']}, not at the notebook's 0.8"
    assert before["text"] == lab_page.kernel_print(path, "print(explorer.text, end='')"), \
        "the explorer shows another text than the kernel's sample"
    assert before["text"].startswith("ROMEO:\n")

    lab_page.helper("show", path)
    slider = lab_page.helper("slider", path)
    lab_page.browser.drag((slider["x"], slider["y"]), (slider["trackEnd"] + 40, slider["y"]))

    after = lab_page.wait_for(
        "the sample text changing after the slider was dragged to its right end",
        lambda: (state := lab_page.helper("temperature", path)) and state["text"] != before["text"] and state,
        CHANGE_SECONDS, lambda: f"The view shows {lab_page.helper('temperature', path)}; the kernel's slider is at "
                                f"{lab_page.kernel_print(path, 'print(explorer.slider.value)').strip()}.")
    assert after["readout"] == "2.00", f"dragged past its right end, the slider reads {after['readout']}, not 2.00"
    assert lab_page.kernel_print(path, "print(explorer.slider.value)") == "2.0\n", \
        "the kernel did not receive the slider's new value"
    assert after["text"] == lab_page.kernel_print(path, "print(explorer.text, end='')"), \
        "the explorer shows another text than the kernel's new sample"
    assert after["text"].startswith("ROMEO:\n") and len(after["text"]) > len("ROMEO:\n"), \
        f"not a sample after the prompt: {after['text']!r}"


def test_picking_another_gate_redraws_the_heatmap(lab_page):
    path = GATES.path
    shown_by_kernel = ("import hashlib, json; print(json.dumps("
                       "[hashlib.sha256(explorer.image.value).hexdigest(), explorer.gate_menu.value]))")
    before = lab_page.wait_for("the gate explorer showing a heatmap and its gate menu",
                               lambda: lab_page.helper("gate", path), CHANGE_SECONDS)
    assert len(before["options"]) >= 2 and before["gate"] == before["options"][0], before
    assert json.loads(lab_page.kernel_print(path, shown_by_kernel)) == [before["sha256"], before["gate"]], \
        "the heatmap shown is not the kernel's image of the selected gate"

    lab_page.helper("pick", path, before["options"][1])

    after = lab_page.wait_for(
        "the heatmap changing after the next gate was picked",
        lambda: (state := lab_page.helper("gate", path)) and state["sha256"] != before["sha256"] and state,
        CHANGE_SECONDS, lambda: f"The view shows {lab_page.helper('gate', path)}; the kernel has "
                                f"{lab_page.kernel_print(path, shown_by_kernel).strip()}.")
    assert after["gate"] == before["options"][1], \
        f"picked {after['gate']!r}, not the next gate {before['options'][1]!r}"
    assert json.loads(lab_page.kernel_print(path, shown_by_kernel)) == [after["sha256"], after["gate"]], \
        "the heatmap shown is not the kernel's image of the newly picked gate"


def test_jupyterlab_logged_no_console_error(lab_page):
    # runs after the interactions: a widget view that failed to render or update logs an error here
    errors = lab_page.browser.console_errors()
    assert not errors, "JupyterLab's page logged errors:\n" + "\n".join(errors)
