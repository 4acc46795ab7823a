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
                               timeout=90_000)
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
