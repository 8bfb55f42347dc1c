import base64
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from conftest import TINY
from PIL import Image

from openjepa.data.digits import load_digits
from openjepa.eval.evaluate import evaluate_run
from openjepa.eval.report import write_report
from openjepa.runs.config import build_config, recipe_dict
from openjepa.train.loop import fit

VOID = {"meta", "img", "br", "hr", "link", "input", "wbr", "col", "area", "base", "source", "track", "embed"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page(HTMLParser):
    """What a test needs of report.html: the value cells by ``data-key``, every src/href, the images, the text of
    each section, and whether every element that was opened was closed in order."""

    def __init__(self, text: str):
        super().__init__()
        self.cells, self.links, self.images, self.sections, self.stack, self.errors = {}, [], [], {}, [], []
        self.section = self.cell = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        self.links += [attrs[a] for a in ("src", "href") if a in attrs]
        if tag == "img":
            self.images.append(attrs["src"])
        if "data-key" in attrs:
            self.cells[attrs["data-key"]] = {"value": json.loads(attrs["data-value"]), "text": ""}
            self.cell = attrs["data-key"]
        if tag == "section":
            self.section = attrs["id"]
            self.sections[self.section] = ""

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"</{tag}> closes nothing open")
        if tag == "td":
            self.cell = None
        if tag == "section":
            self.section = None

    def handle_data(self, data):
        if self.cell:
            self.cells[self.cell]["text"] += data
        if self.section:
            self.sections[self.section] += data


def _leaves(value, key=""):
    if not isinstance(value, dict):
        return [(key, value)]
    return [leaf for k, v in value.items() for leaf in _leaves(v, f"{key}.{k}" if key else k)]


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    """A 3-step tiny I-JEPA, evaluated: its folder and its :class:`Evaluation`."""
    data = load_digits(size=16)
    cfg = build_config(recipe_dict("ijepa_tiny"), TINY + ["train.steps=3"])
    run = fit(cfg, tmp_path_factory.mktemp("report") / "run", progress=False, data=data)
    return run, evaluate_run(run, settings=["eval.max_train=200", "eval.lowshot_repeats=1"], dataset=data)


def test_report_html_shows_every_figure_of_eval_json_and_needs_no_other_file(evaluated_run):
    run, evaluation = evaluated_run
    page = Page((run / "report.html").read_text())
    assert page.errors == [] and page.stack == []
    saved = json.loads((run / "eval.json").read_text())
    leaves = _leaves(saved)
    assert {"linear.trained", "knn.raw_input", "rankme.random_init", "meta.encoder"} <= {k for k, _ in leaves}
    for key, value in leaves:
        assert page.cells[key]["value"] == value, key
    assert page.cells["linear.trained"]["text"] == f"{saved['linear']['trained']:.3f}"
    assert page.cells["rankme.raw_input"]["text"] == f"{saved['rankme']['raw_input']:.3f}"
    assert evaluation.table in page.sections["tables"]
    # the pictures, inline; nothing else to fetch
    assert len(page.images) == len(list((run / "plots").glob("*.png"))) >= 3
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    for src in page.images:  # each a whole PNG
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    assert all(link.startswith("data:") for link in page.links)
    assert (run / "config.yaml").read_text() in page.sections["config"]
    if (run / "data.json").exists():
        for key, value in _leaves(json.loads((run / "data.json").read_text())):
            assert page.cells[f"data.{key}"]["value"] == value
    else:
        assert "no data fingerprint recorded" in page.sections["data"]


def test_report_html_shows_the_data_fingerprint(evaluated_run, tmp_path):
    run, evaluation = evaluated_run
    copy = shutil.copytree(run, tmp_path / "run")
    fingerprint = {"dataset": "digits", "fingerprint": "sha256:" + "ab" * 32, "files": 1797, "split": {"test": 0.2}}
    (copy / "data.json").write_text(json.dumps(fingerprint))
    write_report(copy, evaluation.table, sorted((copy / "plots").glob("*.png")), results=evaluation.results,
                 notes="a <note> & more")
    page = Page((copy / "report.html").read_text())
    assert page.errors == []
    for key, value in _leaves(fingerprint):
        assert page.cells[f"data.{key}"]["value"] == value
    assert "no data fingerprint recorded" not in page.sections["data"]
    assert "a <note> & more" in page.sections["tables"]


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium")
def test_report_html_opens_in_a_headless_browser(evaluated_run, tmp_path):
    run, _ = evaluated_run
    shot = tmp_path / "report.png"
    common = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
              f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run(common + ["--dump-dom", (run / "report.html").as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = Page(dom.stdout)  # the page as the browser built it shows every figure of eval.json
    for key, value in _leaves(json.loads((run / "eval.json").read_text())):
        assert page.cells[key]["value"] == value, key
    assert "CONSOLE" not in dom.stderr  # no message of the page (script errors would show here)
    subprocess.run(common + ["--window-size=1200,2000", f"--screenshot={shot}", (run / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    image = Image.open(shot).convert("L")
    low, high = image.getextrema()
    assert high - low > 100  # text and pictures on the page, not a blank screen
