"""The UI's pipelines pages on what `tessel pipeline run` (local engine)
recorded: a real run with a step that succeeds after a retry, a failing step
and the step it skips, and an independent step."""
import csv
import re

import pytest

import tessel as ts
import tessel.store  # noqa: F401

pytest.importorskip("flask")
from tessel import automation  # noqa: E402
from tessel.ui import create_app  # noqa: E402


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uipipe")
    table = tmp / "t.csv"
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "y"])
        for k in range(20):
            w.writerow([k, k % 2])
    store = str(tmp / "store")
    spec = {"name": "demo", "store": store, "steps": {
        "profile": {"task": "profile", "args": {"data": str(table), "target": "y"}},
        "broken": {"task": "profile", "needs": ["profile"], "args": {"data": str(tmp / "missing.csv")}},
        "after_broken": {"task": "profile", "needs": ["broken"], "args": {"data": str(table)}},
        "side": {"task": "profile", "args": {"data": str(table), "target": "x"}},
    }}
    r = automation.run_local(spec, sleep=lambda s: None)
    return ts.store.open(store), r


@pytest.fixture()
def client(recorded):
    app = create_app(store=recorded[0])
    app.config["TESTING"] = True
    return app.test_client()


def test_pipelines_list_links_the_run(client, recorded):
    _, r = recorded
    page = client.get("/pipelines")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="nav-pipelines"' in html and "demo" in html
    assert f"/pipelines/{r.run_id}" in html and r.state in html


def test_pipeline_page_shows_the_dag_and_every_step(client, recorded):
    _, r = recorded
    assert r.steps["broken"]["state"] == "FAILED" and r.steps["after_broken"]["state"] == "SKIPPED"
    html = client.get(f"/pipelines/{r.run_id[:10]}").get_data(as_text=True)
    # One node per step in the SVG, with its recorded state; one edge per `needs`.
    nodes = dict(re.findall(r'data-step="([^"]+)" data-state="([^"]+)"', html))
    assert nodes == {n: s["state"] for n, s in r.steps.items()}
    assert html.count("<path d=") == 2
    # Columns by depth: profile and side first, broken second, after_broken third.
    xs = {n: int(x) for n, x in re.findall(r'data-step="([^"]+)"[^>]*><rect x="(\d+)"', html)}
    assert xs["profile"] == xs["side"] < xs["broken"] < xs["after_broken"]
    # The table: the failing step's error and links to each step run and its log.
    row = re.search(r'<tr data-step="broken">(.*?)</tr>', html, re.S).group(1)
    assert "FAILED" in row and "missing.csv" in row
    assert f"/runs/{r.steps['broken']['run_id']}" in row and "log.txt" in row
    assert client.get(f"/runs/{r.steps['profile']['run_id']}/artifacts/log.txt").status_code == 200


def test_unknown_pipeline_run_is_404(client):
    assert client.get("/pipelines/ffffffffffff").status_code == 404
