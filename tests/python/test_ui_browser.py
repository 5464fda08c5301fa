"""The web UI in a real browser: headless Chromium driven by Selenium through
Debian's chromium-driver (passed explicitly: Selenium Manager never downloads
anything). It logs in with the token, clicks through every page, promotes and
rolls back an alias, uploads an image and a text on try-a-model, and saves a
screenshot of each page to $TESSEL_SCREENSHOT_DIR (default build/ui-screenshots).
The serving page reads the real tessel-serve."""
import io
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tessel as ts
import tessel.store  # noqa: F401

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not go online
selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from tessel.ui import create_app  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver")
                                                else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                                reason="Chromium and chromium-driver are not installed (Debian: apt-get install "
                                       "chromium chromium-driver)")
TOKEN = "browser-token"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("TESSEL_SCREENSHOT_DIR") or ROOT / "build" / "ui-screenshots")
WAIT = 15


def _build_store(tmp):
    st = ts.store.open(tmp / "store")
    rng = np.random.default_rng(0)
    for i, (lr, model) in enumerate([(1e-3, "mlp"), (3e-3, "cnn"), (1e-2, "cnn"), (3e-2, "mlp")]):
        with st.run("digits", name=f"run-{i}", params={"lr": lr, "batch_size": 64, "model": model,
                                                       "optimizer": "adam"}) as rid:
            steps = np.arange(2000)
            noise = rng.normal(scale=0.05, size=steps.size)
            loss = 2.3 * np.exp(-steps / (300 + 200 * i)) + 0.05 + np.abs(noise)
            pts = [("step/loss", int(s), float(v)) for s, v in zip(steps, loss)]
            for e in range(20):
                pts += [("loss", e, float(loss[e * 100])), ("val_accuracy", e, 0.6 + 0.3 * (1 - np.exp(-e / (3 + i))))]
                pts += [("system/cpu_percent", e, 150 + 20 * np.sin(e)), ("system/rss_mb", e, 300 + 2 * e)]
            st.log_metrics(rid, pts)
            (tmp / "summary.txt").write_text(f"run {i}\n")
            st.log_artifact(rid, tmp / "summary.txt", "reports/summary.txt")
        time.sleep(0.01)
    ts.manual_seed(0)
    m = ts.nn.Sequential(ts.nn.Conv2d(3, 4, 3, padding=1), ts.nn.ReLU(), ts.nn.Flatten(), ts.nn.Linear(4 * 8 * 8, 3))
    ts.onnx.export(m, (ts.randn(2, 3, 8, 8),), str(tmp / "cnn.onnx"), input_names=["image"], output_names=["logits"],
                   dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    runs = st.search_runs("digits")
    st.register_model("shapes", onnx=tmp / "cnn.onnx", config={"classes": ["circle", "square", "triangle"]},
                      metrics={"val_accuracy": 0.91}, run_id=runs[1].id, data=["folder:/data/shapes"])
    st.register_model("shapes", onnx=tmp / "cnn.onnx", config={"classes": ["circle", "square", "triangle"]},
                      metrics={"val_accuracy": 0.94}, run_id=runs[0].id,
                      data=["folder:/data/shapes"], alias="champion")
    return st


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from werkzeug.serving import make_server

    from tessel.cli.serve import find_server
    tmp = tmp_path_factory.mktemp("uib")
    st = _build_store(tmp)
    serve_proc, serve_url = None, None
    try:
        binary = find_server()
    except FileNotFoundError:
        binary = None
    if binary:
        port_file = tmp / "serve.port"
        serve_proc = subprocess.Popen([binary, "--http-port", "0", "--port-file", str(port_file), "--threads", "2",
                                       "--model-repository", st.registry_root], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert serve_proc.poll() is None and time.monotonic() < deadline, "tessel-serve did not start"
            time.sleep(0.02)
        serve_url = f"http://127.0.0.1:{int(port_file.read_text())}"
    app = create_app(store=st, serve_url=serve_url, token=TOKEN)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.socket.getsockname()[1]}", "store": st, "tmp": tmp,
           "serve_url": serve_url}
    server.shutdown()
    if serve_proc is not None:
        serve_proc.send_signal(signal.SIGTERM)
        try:
            serve_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            serve_proc.kill()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1360,1000",
              "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield drv
    drv.quit()


def shot(drv, name):
    # the whole page: grow the window to the document's height first
    h = drv.execute_script("return document.documentElement.scrollHeight")
    drv.set_window_size(1360, min(max(h + 160, 700), 5000))  # + the window frame of headless Chrome
    drv.save_screenshot(str(SHOTS / f"ui-{name}.png"))
    drv.set_window_size(1360, 1000)
    assert (SHOTS / f"ui-{name}.png").stat().st_size > 5000


def go(drv, by, value):
    """Clicks what navigates, and waits for the new page to replace the old one: a
    mark set on the old page's window is gone once a new document has loaded.
    (Waiting for the old <html> element to go stale raced with Chromium: asked
    about a node mid-navigation, it can answer "Node with given id does not
    belong to the document" instead of a stale-element error.)"""
    drv.execute_script("window.__tesselOldPage = true;")
    drv.find_element(by, value).click()
    WebDriverWait(drv, WAIT, ignored_exceptions=(WebDriverException,)).until(  # transient mid-navigation
        lambda d: d.execute_script("return document.readyState === 'complete' && !window.__tesselOldPage;"))


def wait_for(drv, css):
    return WebDriverWait(drv, WAIT).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_click_through_every_page(site, browser):
    d, url = browser, site["url"]
    # --- login
    d.get(url + "/runs")
    wait_for(d, "#token").send_keys(TOKEN)
    go(d, By.ID, "login")
    table = wait_for(d, "#runs-table")
    assert "4 match" in d.find_element(By.TAG_NAME, "h1").text
    assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 4
    shot(d, "runs")

    # --- sort by the last val_accuracy: one click descending, a second ascending
    # (0.6 + 0.3 (1 - exp(-19 / (3 + i))): run-0 ends highest)
    go(d, By.LINK_TEXT, "val_accuracy")
    names = [a.text for a in wait_for(d, "#runs-table").find_elements(By.CSS_SELECTOR, "a.run-link")]
    assert names == ["run-0", "run-1", "run-2", "run-3"]
    go(d, By.PARTIAL_LINK_TEXT, "val_accuracy")
    names = [a.text for a in wait_for(d, "#runs-table").find_elements(By.CSS_SELECTOR, "a.run-link")]
    assert names == ["run-3", "run-2", "run-1", "run-0"]
    # --- filter by a parameter
    box = d.find_element(By.ID, "f-param")
    box.clear()
    box.send_keys("model=cnn")
    go(d, By.ID, "apply")
    wait_for(d, "#runs-table")
    names = sorted(a.text for a in d.find_elements(By.CSS_SELECTOR, "a.run-link"))
    assert names == ["run-1", "run-2"]
    # --- compare the two
    for cb in d.find_elements(By.CSS_SELECTOR, "#runs-table tbody input[type=checkbox]"):
        cb.click()
    go(d, By.ID, "compare")
    params = wait_for(d, "#compare-params")
    rows = [r.find_element(By.TAG_NAME, "th").text for r in params.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert rows == ["lr"]  # model, batch_size and optimizer are the same for run-1 and run-2
    assert len(d.find_elements(By.CSS_SELECTOR, "figure[data-key='val_accuracy'] polyline.series")) == 2
    shot(d, "compare")

    # --- one run: charts, smoothing and log axis, artifacts
    go(d, By.CSS_SELECTOR, "#compare-runs thead a")
    wait_for(d, "#charts")
    assert d.find_elements(By.CSS_SELECTOR, "figure[data-key='step/loss'] svg")
    assert d.find_elements(By.CSS_SELECTOR, "#system figure[data-key='system/rss_mb'] svg")
    d.find_element(By.ID, "log").click()
    slider = d.find_element(By.ID, "smooth")
    d.execute_script("arguments[0].value = '0.8'; arguments[0].dispatchEvent(new Event('input'))", slider)
    assert d.find_element(By.CSS_SELECTOR, "#chart-options output").text == "0.8"  # static/tessel-ui.js
    go(d, By.ID, "redraw")
    WebDriverWait(d, WAIT).until(EC.url_contains("log=1"))
    assert "smooth=0.8" in d.current_url
    assert "(log y)" in d.find_element(By.CSS_SELECTOR, "figure[data-key='loss'] svg").get_attribute("innerHTML")
    link = d.find_element(By.CSS_SELECTOR, "a.artifact")
    assert link.text == "reports/summary.txt" and "/artifacts/reports/summary.txt" in link.get_attribute("href")
    shot(d, "run")

    # --- models: list, model page, promote and roll back, version page
    go(d, By.ID, "nav-models")
    wait_for(d, "#models-table")
    shot(d, "models")
    go(d, By.LINK_TEXT, "shapes")
    wait_for(d, "#promote-form")
    alias = d.find_element(By.ID, "promote-alias")
    alias.clear()
    alias.send_keys("staging")
    Select(d.find_element(By.ID, "promote-version")).select_by_value("1")
    go(d, By.ID, "promote")
    assert "staging -> version 1" in wait_for(d, ".flash").text
    assert d.find_element(By.ID, "alias-staging").text == "v1"
    Select(d.find_element(By.ID, "promote-version")).select_by_value("2")
    alias = d.find_element(By.ID, "promote-alias")
    alias.clear()
    alias.send_keys("staging")
    go(d, By.ID, "promote")
    WebDriverWait(d, WAIT).until(EC.text_to_be_present_in_element((By.ID, "alias-staging"), "v2"))
    go(d, By.ID, "rollback-staging")
    assert "rolled back to version 1" in wait_for(d, ".flash").text
    assert site["store"].get_aliases("shapes")["staging"] == 1
    shot(d, "model")
    go(d, By.CSS_SELECTOR, "a.version-link")  # newest first: v2
    assert "folder:/data/shapes" in wait_for(d, "#lineage").text
    assert "[-1, 3, 8, 8]" in d.find_element(By.ID, "signature").text
    shot(d, "version")

    # --- serving
    go(d, By.ID, "nav-serving")
    if site["serve_url"]:
        idx = wait_for(d, "#serve-index")
        assert "READY" in idx.text and "shapes" in idx.text
    else:
        wait_for(d, "#no-server")

    # --- pipelines: the run's DAG and steps (recorded now, so the runs table above kept its 4 runs)
    from tessel import automation
    tmp = site["tmp"]
    table = tmp / "t.csv"
    table.write_text("x,y\n" + "".join(f"{k},{k % 2}\n" for k in range(20)))
    automation.run_local({"name": "nightly", "store": str(tmp / "store"), "steps": {
        "profile": {"task": "profile", "args": {"data": str(table), "target": "y"}},
        "broken": {"task": "profile", "needs": ["profile"], "args": {"data": str(tmp / "missing.csv")}},
        "report": {"task": "profile", "needs": ["broken"], "args": {"data": str(table)}}}}, sleep=lambda s: None)
    go(d, By.ID, "nav-pipelines")
    assert "nightly" in wait_for(d, "#pipelines-table").text
    go(d, By.CSS_SELECTOR, "a.pipeline-link")
    wait_for(d, "#dag")
    states = {e.get_attribute("data-step"): e.get_attribute("data-state")
              for e in d.find_elements(By.CSS_SELECTOR, "#dag g.dag-node")}
    assert states == {"profile": "FINISHED", "broken": "FAILED", "report": "SKIPPED"}
    assert "missing.csv" in d.find_element(By.CSS_SELECTOR, 'tr[data-step="broken"]').text
    shot(d, "pipeline")

    # --- studies: a 4-trial agent run (wine: 3 complete, the pruner stops one), its history, importance, table
    from tessel import agent
    from test_agent import sklearn_csv
    res = agent.AutoML(n_trials=4, max_epochs=2, verbose=False, store=str(tmp / "store"), ensemble=False,
                       export=False, register=False, report=False, families=["mlp"],
                       val_repeats=1).fit(sklearn_csv(tmp, "wine"), target="target")
    states = {r["trial"]: r["state"] for r in res.leaderboard}
    go(d, By.ID, "nav-studies")
    assert res.study_name in wait_for(d, "#studies-table").text
    go(d, By.CSS_SELECTOR, "a.study-link")
    wait_for(d, "#history")
    marks = {int(e.get_attribute("data-trial")): e.get_attribute("data-state")
             for e in d.find_elements(By.CSS_SELECTOR, "#history .trial-point")}
    assert marks == states and "PRUNED" in marks.values()
    assert float(d.find_element(By.CSS_SELECTOR, "#history .best-so-far").get_attribute("data-best")) == \
        pytest.approx(res.best["value"])
    assert d.find_element(By.ID, "best-trial").text == str(res.best["trial"])
    assert len(d.find_elements(By.CSS_SELECTOR, "#parallel .pc-line")) == len(states)
    assert "objective" in [e.get_attribute("data-param") for e in d.find_elements(By.CSS_SELECTOR, "#parallel .pc-axis")]
    assert "lr" in [e.get_attribute("data-param") for e in d.find_elements(By.CSS_SELECTOR, "#importance .importance-bar")]
    rows = {int(e.get_attribute("data-trial")): e.get_attribute("data-state")
            for e in d.find_elements(By.CSS_SELECTOR, "#trials-table tbody tr")}
    assert rows == states
    shot(d, "studies")

    # --- try a model: upload an image
    go(d, By.ID, "nav-try")
    wait_for(d, "#try-models")
    go(d, By.CSS_SELECTOR, "a.try-version")  # v2
    img = np.zeros((32, 32, 3), np.uint8)
    img[8:24, 8:24] = (230, 40, 40)
    from PIL import Image
    path = site["tmp"] / "square.png"
    Image.fromarray(img).save(path)
    wait_for(d, "#file-image").send_keys(str(path))
    go(d, By.ID, "predict")
    pred = wait_for(d, "#prediction")
    labels = [e.text for e in pred.find_elements(By.CSS_SELECTOR, "td.label")]
    assert sorted(labels) == ["circle", "square", "triangle"]
    assert "ms" in d.find_element(By.ID, "latency").text
    req = d.find_element(By.ID, "request-json").text
    assert '"name": "image"' in req and '"datatype": "FP32"' in req
    assert "POST /v2/models/shapes/versions/2/infer" in d.page_source
    shot(d, "try")
    # a text for an image model says what is missing
    note = site["tmp"] / "note.txt"
    note.write_text("a red square")
    wait_for(d, "#file-image").send_keys(str(note))
    go(d, By.ID, "predict")
    assert "no text preprocessing recorded" in wait_for(d, "#try-error").text

    # --- serving again, now that the server got traffic
    if site["serve_url"]:
        go(d, By.ID, "nav-serving")
        wait_for(d, "#serve-metrics")
        d.refresh()
        wait_for(d, "#serve-metrics")
        shot(d, "serving")


def test_login_is_required_and_wrong_token_refused(site, browser):
    d = browser
    d.delete_all_cookies()
    d.get(site["url"] + "/models")
    wait_for(d, "#token").send_keys("nope")
    go(d, By.ID, "login")
    assert "Wrong token" in wait_for(d, ".error").text
    assert "/login" in d.current_url
