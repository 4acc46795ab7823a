"""One real-browser end-to-end pass: `streamlit run app.py` on a free port, every page loaded in
headless Chromium, the main chart awaited, no exception box, a screenshot saved per page.

Needs Debian's chromium (`.ci/run` installs it) and the Python playwright client (dev extra);
skipped when either is missing. Screenshots go to $BROWSER_SHOTS or a temporary folder.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"root": "", "training": "training", "inference": "inference", "cluster": "cluster", "hardware": "hardware",
         "validation": "validation"}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + (proc.stdout.read() if proc.stdout else ""))
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    assert "Traceback" not in out, out[-3000:]


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("BROWSER_SHOTS") or tempfile.mkdtemp(prefix="app-shots-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("name", list(PAGES))
def test_page_in_real_browser(server, shots, name):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        t0 = time.time()
        page.goto(f"{server}/{PAGES[name]}")
        page.wait_for_selector("[data-testid='stVegaLiteChart'], [data-testid='stArrowVegaLiteChart']",
                               timeout=300_000)
        page.wait_for_timeout(1500)  # let the remaining elements settle
        elapsed = time.time() - t0
        path = shots / f"{name}.png"
        page.screenshot(path=str(path))
        assert page.locator("[data-testid='stException']").count() == 0, f"exception box on {name}; see {path}"
        text = page.inner_text("body")
        url = page.url
        browser.close()
    if name == "root":  # the root opens the training planner at its own, bookmarkable address
        assert url.endswith("/training"), url
    assert "Traceback" not in text and "Page not found" not in text
    print(f"{name}: first chart after {elapsed:.1f} s; screenshot {path}")


CHART = "[data-testid='stVegaLiteChart'], [data-testid='stArrowVegaLiteChart']"


def _headline(page) -> str:
    """The Training page's answer line ('Best: 64 x a100-sxm-80gb  ·  tp1 ...')."""
    page.wait_for_selector(CHART, timeout=300_000)
    page.wait_for_timeout(1500)
    return page.get_by_text("Best:", exact=False).first.inner_text()


def test_workspace_in_real_browser(server, shots, tmp_path):
    """A link reproduces the view; the exported scenario loads back on the page and gives the same answer; A/B
    pins a view; the one-page report downloads and renders (screenshots of each step)."""
    query = "tr-hw=a100-sxm-80gb&tr-gpus=64,128&train-id=llama3.1-8b&tr-tokens=1&tr-batch=256"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 2200}, accept_downloads=True)
        page = ctx.new_page()
        page.goto(f"{server}/training?{query}")
        first = _headline(page)
        assert "a100-sxm-80gb" in first, first
        page.screenshot(path=str(shots / "workspace-link.png"))
        shared = page.url  # what a user copies: the settings that differ from the defaults
        assert "tr-gpus=64%2C128" in shared or "tr-gpus=64,128" in shared, shared

        again = ctx.new_page()
        again.goto(shared)
        assert _headline(again) == first  # the link reopens the same answer
        again.close()

        with page.expect_download() as got:
            page.get_by_role("button", name="Export this plan as a scenario YAML").click()
        scenario = tmp_path / "scenario.yaml"
        got.value.save_as(scenario)
        assert "kind: training" in scenario.read_text()

        fresh = ctx.new_page()
        fresh.goto(f"{server}/training")
        _headline(fresh)
        fresh.locator("[data-testid='stSidebar'] input[type='file']").first.set_input_files(str(scenario))
        want = first.split("·")[0].strip()  # "Best: 128 x a100-sxm-80gb": wait for the loaded answer, however slow
        fresh.get_by_text(want, exact=False).first.wait_for(timeout=300_000)
        loaded = _headline(fresh)
        fresh.screenshot(path=str(shots / "workspace-loaded.png"))
        assert loaded.split("·")[0] == first.split("·")[0], (loaded, first)  # same hardware and GPU count

        fresh.get_by_role("button", name="Pin this view as A").click()
        fresh.get_by_role("button", name="Clear A", exact=True).wait_for(timeout=300_000)
        fresh.locator("[data-testid='stSidebar']").get_by_label("Token budget (trillions)").fill("3")
        fresh.keyboard.press("Enter")
        fresh.get_by_text("Settings that differ").first.wait_for(timeout=300_000)
        body = fresh.inner_text("body")
        assert "Settings that differ" in body and "Clear A" in body  # (the A/B tables draw on a canvas)
        fresh.get_by_role("button", name="Download a one-page report").scroll_into_view_if_needed()
        fresh.screenshot(path=str(shots / "workspace-ab.png"), full_page=True)

        with fresh.expect_download() as got:
            fresh.get_by_role("button", name="Download a one-page report").click()
        report = tmp_path / "report.html"
        got.value.save_as(report)
        html = report.read_text()
        assert "<svg" in html and "Assumptions" in html and "price book" in html
        view = ctx.new_page()
        view.goto(report.as_uri())
        view.screenshot(path=str(shots / "workspace-report.png"), full_page=True)
        assert view.locator("svg").count() >= 1
        browser.close()
