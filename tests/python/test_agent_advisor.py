"""The optional LLM advisor: a fake OpenAI-compatible endpoint (http.server on
127.0.0.1 in a thread) returns canned replies; valid advice changes the
search space and its explanation lands in the report; unknown families or
parameters are ignored with a warning; a malformed reply, a refused
connection and a timeout leave the agent to go on without advice."""
import http.server
import json
import threading
import time

import pytest

from tessel import agent
from tessel.agent import advisor, plan

from test_agent import sklearn_csv


class _Fake:
    def __init__(self, content=None, delay=0.0, raw=None):
        self.content, self.delay, self.raw = content, delay, raw
        self.requests = []
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((self.path, body))
                time.sleep(fake.delay)
                data = fake.raw if fake.raw is not None else json.dumps(
                    {"choices": [{"index": 0, "message": {"role": "assistant", "content": fake.content}}]}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    servers = []

    def make(**kw):
        s = _Fake(**kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


GOOD = {"families": ["mlp", "resnet"],  # resnet does not take tables: ignored
        "space": {"lr": {"low": 0.005, "high": 0.02}, "mlp.width": {"choices": [64]},
                  "mlp.depth": {"low": 1, "high": 1}, "mlp.wings": {"choices": [2]},
                  "batch_size": {"choices": ["big"]}},
        "explanation": "Iris is small and clean: one narrow layer and a higher learning rate will do.",
        "budget": "more"}


def test_parse_advice_validates(tmp_path):
    prof = agent.profile(sklearn_csv(tmp_path, "iris"), target="target")
    with pytest.warns(UserWarning, match="advisor"):
        a = advisor.parse_advice("```json\n" + json.dumps(GOOD) + "\n```", prof)
    assert a.families == ("mlp",)
    assert set(a.space) == {"lr", "mlp.width", "mlp.depth"}
    assert (a.space["lr"].low, a.space["lr"].high, a.space["lr"].kind) == (0.005, 0.02, "log")
    assert a.space["mlp.width"].choices == (64,) and a.space["mlp.width"].default == 64
    text = " ".join(a.warnings)
    assert "resnet" in text and "mlp.wings" in text and "batch_size" in text and "'budget'" in text
    assert a.explanation.startswith("Iris is small")
    with pytest.raises(ValueError):
        advisor.parse_advice("I think you should use a bigger model.", prof)


def test_advice_changes_the_search_and_the_report(tmp_path, fake):
    srv = fake(content=json.dumps(GOOD))
    res = agent.AutoML(n_trials=3, max_epochs=2, seed=0, verbose=False, store=str(tmp_path / "s"), ensemble=False,
                       advisor=srv.url, advisor_model="fake-7b").fit(sklearn_csv(tmp_path, "iris"), target="target")
    # Two requests to the chat endpoint: the plan (profile, empty leaderboard), then the result.
    assert [p for p, _ in srv.requests] == ["/v1/chat/completions"] * 2
    first, second = srv.requests[0][1], srv.requests[1][1]
    assert first["model"] == "fake-7b" and first["messages"][0]["role"] == "system"
    sent = json.loads(first["messages"][1]["content"])
    assert sent["profile"]["task"] == "classification" and sent["leaderboard"] == []
    assert len(json.loads(second["messages"][1]["content"])["leaderboard"]) == 3
    # Every trial stayed inside the advised space.
    for r in res.leaderboard:
        assert r["params"]["mlp.width"] == 64 and r["params"]["mlp.depth"] == 1
        assert 0.005 <= r["params"]["lr"] <= 0.02
    assert res.advice["changes"]["mlp.width"] == {"choices": [64]}
    html = open(res.report_path).read()
    assert "<h2>Advisor</h2>" in html and "one narrow layer" in html


@pytest.mark.parametrize("kind", ["malformed", "not_json_content", "refused", "timeout"])
def test_the_agent_goes_on_without_advice(tmp_path, fake, kind):
    if kind == "malformed":
        url = fake(raw=b"{not json").url
    elif kind == "not_json_content":
        url = fake(content="Sure! Use XGBoost.").url
    elif kind == "timeout":
        url = fake(content=json.dumps(GOOD), delay=3.0).url
    else:
        s = fake(content="{}")
        url = s.url
        s.close()
    t0 = time.monotonic()
    res = agent.AutoML(n_trials=2, max_epochs=1, seed=0, verbose=False, store=str(tmp_path / "s"), ensemble=False,
                       advisor=url, advisor_timeout=0.5).fit(sklearn_csv(tmp_path, "iris"), target="target")
    assert res.advice is None
    # no advice: the families' default points (tables: boosted trees, then the MLP)
    assert len(res.leaderboard) == 2
    assert sorted(r["params"]["family"] for r in res.leaderboard) == ["boosted_trees", "mlp"]
    for r in res.leaderboard:
        assert r["params"] == plan.defaults(r["params"]["family"])
    if kind == "timeout":
        assert time.monotonic() - t0 < 60


def test_ask_warns_on_a_refused_connection(tmp_path, fake):
    prof = agent.profile(sklearn_csv(tmp_path, "iris"), target="target")
    s = fake(content="{}")
    url = s.url
    s.close()
    with pytest.warns(UserWarning, match="did not answer"):
        assert advisor.ask(url, prof, timeout=0.5) is None
