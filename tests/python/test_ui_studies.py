"""The UI's studies pages on what real agent runs recorded: a study in SQLite
(the default), one in Optuna's journal file, one kept in memory (the page
falls back to the run's leaderboard.json) and one whose database was removed.
The marks, lines and bars of the server-side SVG carry data-* attributes that
the tests compare with the agent's own leaderboard."""
import os
import re

import pytest

import tessel as ts
import tessel.store  # noqa: F401

pytest.importorskip("flask")
pytest.importorskip("optuna")
from tessel import agent  # noqa: E402
from tessel.ui import create_app  # noqa: E402

from test_agent import sklearn_csv  # noqa: E402


def _fit(tmp, store, **kw):
    kw.setdefault("n_trials", 6)
    kw.setdefault("max_epochs", 3)
    return agent.AutoML(verbose=False, store=store, ensemble=False, export=False, register=False, report=False,
                        **kw).fit(sklearn_csv(tmp, "iris"), target="target")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uistudies")
    store = str(tmp / "store")
    # Two families (the table default adds linear, whose 2-trial start-up per family would leave 6 trials
    # nothing to prune): the page must show pruned trials and a family axis.
    res = {"sqlite": _fit(tmp, store, families=("boosted_trees", "mlp"))}
    res["journal"] = _fit(tmp, store, n_trials=2, max_epochs=1, storage="journal", study_name="shared")
    res["memory"] = _fit(tmp, store, n_trials=2, max_epochs=1, storage="memory")
    return ts.store.open(store), res


@pytest.fixture()
def client(recorded):
    app = create_app(store=recorded[0])
    app.config["TESTING"] = True
    return app.test_client()


def test_studies_list_has_every_agent_run_and_only_those(client, recorded):
    st, res = recorded
    html = client.get("/studies").get_data(as_text=True)
    assert 'id="nav-studies"' in html
    linked = re.findall(r'href="/studies/([0-9a-f]{32})" class="study-link">([^<]+)<', html)
    assert sorted(linked) == sorted((r.run_id, r.study_name) for r in res.values())
    # Trial runs and the final run are in the same experiment but have no study of their own.
    assert len(st.search_runs("agent", limit=100)) > len(linked)
    assert "studies.journal" in html and "memory" in html


def test_study_page_draws_the_sqlite_study(client, recorded):
    _, res = recorded
    r = res["sqlite"]
    html = client.get(f"/studies/{r.run_id[:10]}").get_data(as_text=True)
    states = {row["trial"]: row["state"] for row in r.leaderboard}
    assert set(states.values()) >= {"COMPLETE", "PRUNED"}  # iris, 6 trials x 3 epochs: the pruner stops some
    # Optimization history: one mark per trial with its state; the best-so-far line ends at the best value.
    hist = re.search(r'<svg[^>]*id="history".*?</svg>', html, re.S).group(0)
    marks = {int(n): s for n, s in re.findall(r'class="trial-point" data-trial="(\d+)" data-state="(\w+)"', hist)}
    assert marks == states
    assert hist.count("<circle") == sum(s == "COMPLETE" for s in states.values())
    best = float(re.search(r'class="best-so-far" data-best="([^"]+)"', hist).group(1))
    assert best == pytest.approx(r.best["value"])
    assert f'id="best-trial">{r.best["trial"]}<' in html
    # Parallel coordinates: an axis per parameter the study sampled and the objective; a line per trial with a value.
    pc = re.search(r'<svg[^>]*id="parallel".*?</svg>', html, re.S).group(0)
    axes = re.findall(r'class="pc-axis" data-param="([^"]+)"', pc)
    # (iris searches boosted trees and the mlp: the family is an axis, and both families' parameters)
    sampled = {p for row in r.leaderboard for p in row["params"]}
    assert "family" in sampled and set(axes) == sampled | {"objective"} and axes[-1] == "objective"
    lines = {int(n): s for n, s in re.findall(r'class="pc-line" data-trial="(\d+)" data-state="(\w+)"', pc)}
    assert lines == {row["trial"]: row["state"] for row in r.leaderboard if row["value"] is not None}
    # The best trial's line is the darkest (dark blue = lowest loss).
    assert re.search(rf'data-trial="{r.best["trial"]}" data-state="COMPLETE" d="[^"]+" fill="none" '
                     rf'stroke="#1f3c8c"', pc)
    # Importance (fANOVA over the complete trials of the best trial's family): shares of its parameters,
    # summing to 1.
    bars = dict(re.findall(r'class="importance-bar" data-param="([^"]+)" data-value="([^"]+)"', html))
    assert bars and set(bars) <= set(r.best["params"])
    assert sum(float(v) for v in bars.values()) == pytest.approx(1.0, abs=1e-6)
    # The trials table: every trial with its state, value and a link to its training run.
    rows = dict(re.findall(r'<tr data-trial="(\d+)" data-state="(\w+)">', html))
    assert {int(k): v for k, v in rows.items()} == states
    for row in r.leaderboard:
        assert f"/runs/{row['run_id']}" in html
    assert "<script>" not in html  # server-side SVG only (the one script is the static file of base.html)


def test_study_in_a_journal_file(client, recorded):
    _, res = recorded
    r = res["journal"]
    html = client.get(f"/studies/{r.run_id}").get_data(as_text=True)
    assert "Study shared" in html and r.storage.endswith("studies.journal")
    marks = re.findall(r'class="trial-point" data-trial="(\d+)"', html)
    assert sorted(int(m) for m in marks) == sorted(row["trial"] for row in r.leaderboard)
    assert 'id="no-importance"' in html  # 2 trials: too few for fANOVA, and the page says so
    assert 'id="study-note"' not in html


def test_memory_study_falls_back_to_the_leaderboard(client, recorded):
    _, res = recorded
    r = res["memory"]
    html = client.get(f"/studies/{r.run_id}").get_data(as_text=True)
    assert "kept in memory" in html and "leaderboard.json" in html
    rows = dict(re.findall(r'<tr data-trial="(\d+)" data-state="(\w+)">', html))
    assert {int(k): v for k, v in rows.items()} == {row["trial"]: row["state"] for row in r.leaderboard}


def test_removed_database_says_so_and_uses_the_leaderboard(tmp_path):
    store = str(tmp_path / "store")
    r = _fit(tmp_path, store, n_trials=2, max_epochs=1)
    os.remove(r.storage[len("sqlite:///"):])
    app = create_app(store=store)
    html = app.test_client().get(f"/studies/{r.run_id}").get_data(as_text=True)
    assert "does not exist any more" in html and "leaderboard.json" in html
    assert len(re.findall(r'<tr data-trial="\d+"', html)) == 2
    assert not os.path.exists(r.storage[len("sqlite:///"):])  # reading did not create an empty database


def test_not_an_agent_run_and_unknown_run_are_404(client, recorded):
    st, res = recorded
    trial_run = res["sqlite"].leaderboard[0]["run_id"]
    page = client.get(f"/studies/{trial_run}")
    assert page.status_code == 404 and "not an agent run" in page.get_data(as_text=True)
    assert client.get("/studies/ffffffffffff").status_code == 404


def test_parallel_coordinates_place_values_on_their_axes():
    from tessel.ui import studies
    trials = [{"number": i, "state": s, "value": v, "params": p, "dists": {}}
              for i, (s, v, p) in enumerate([("COMPLETE", 1.0, {"lr": 1e-4, "opt": "adam"}),
                                             ("COMPLETE", 3.0, {"lr": 1e-2, "opt": "sgd"}),
                                             ("PRUNED", 2.0, {"lr": 1e-3, "opt": "adam"}),
                                             ("FAIL", None, {"lr": 1e-3, "opt": "sgd"})])]
    axes = studies._axes(trials)
    lr, opt = axes
    assert lr["kind"] == "log" and opt["choices"] == ["adam", "sgd"]  # two decades apart: a log axis
    assert studies._frac(lr, 1e-3) == pytest.approx(0.5) and studies._frac(opt, "sgd") == 1.0
    svg = str(studies.parallel_svg(trials))
    assert re.findall(r'data-trial="(\d+)" data-state="(\w+)"', svg) == [("2", "PRUNED"), ("1", "COMPLETE"),
                                                                         ("0", "COMPLETE")]  # failed: no line
    hist = str(studies.history_svg(trials))
    assert re.search(r'class="best-so-far" data-best="1.0"', hist)
    assert 'data-trial="3" data-state="FAIL"' in hist
