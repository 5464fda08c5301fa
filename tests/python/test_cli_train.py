"""`tessel train|evaluate|predict|export` through click's CliRunner, one real
`python -m tessel train` subprocess, and tessel-serve serving the registry
version that `tessel train` registered."""
import csv
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from tessel.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train import write_images, write_table, write_text  # noqa: E402


def cli(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def config(tmp_path, data, name="c.yaml", **sections):
    cfg = {"experiment": {"name": "cli"}, "data": data, "train": {"epochs": 3, "batch_size": 16},
           "output": {"dir": str(tmp_path / "out")}}
    for k, v in sections.items():
        cfg[k] = {**cfg.get(k, {}), **v}
    p = tmp_path / name
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


@pytest.fixture()
def iris(tmp_path):
    """An iris model trained through the CLI and registered as `iris` (alias staging)."""
    store = str(tmp_path / "store")
    c = config(tmp_path, {"path": "sklearn:iris"}, train={"epochs": 40}, optimizer={"lr": 0.02},
               output={"register": "iris", "alias": "staging"})
    r = cli("--store", store, "train", c, "--json", "-q")
    assert r.exit_code == 0, r.output
    return store, json.loads(r.stdout)


def test_train_json_and_registry(iris, tmp_path):
    store, res = iris
    assert set(res) == {"run_id", "output_dir", "metrics", "model_version"}
    assert res["metrics"]["val_accuracy"] > 0.8
    assert res["model_version"]["name"] == "iris" and res["model_version"]["aliases"] == ["staging"]
    assert res["model_version"]["folder"] == os.path.join(store, "registry", "iris", "1")
    r = cli("--store", store, "runs", "show", res["run_id"][:8], "--json")
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)
    assert shown["params"]["optimizer.lr"] in (0.02, "0.02")
    r = cli("--store", store, "models", "show", "iris", "staging", "--json")
    v = json.loads(r.stdout)
    assert v["run_id"] == res["run_id"] and v["signature"]["task"] == "classification"
    assert v["lineage"]["data"][0]["uri"] == "sklearn:iris"


def test_train_text_output_and_progress_on_stderr(tmp_path):
    c = config(tmp_path, {"path": "sklearn:iris"}, experiment={"store": str(tmp_path / "s")})
    r = CliRunner().invoke(main, ["train", c])
    assert r.exit_code == 0, r.output
    assert "run:" in r.stdout and "output:" in r.stdout and "val_accuracy:" in r.stdout
    assert "epoch 1/3" in r.stderr and "epoch 1/3" not in r.stdout


def test_dry_run_prints_resolved_config(tmp_path):
    c = config(tmp_path, {"path": "sklearn:wine"})
    r = cli("train", c, "--dry-run", "--set", "optimizer.lr=0.5", "--set", "model.hidden=[7]")
    assert r.exit_code == 0, r.output
    cfg = yaml.safe_load(r.stdout)
    assert cfg["optimizer"]["lr"] == 0.5 and cfg["model"] == {**cfg["model"], "name": "mlp", "hidden": [7]}
    assert not os.path.exists(tmp_path / "out")


def test_config_errors_exit_2_naming_the_key(tmp_path):
    c = config(tmp_path, {"path": "nowhere"}, optimizer={"lrr": 1})
    r = cli("train", c)
    assert r.exit_code == 2
    assert "data.path: folder 'nowhere'" in r.stderr and "optimizer.lrr: unknown key (did you mean 'lr'?)" in r.stderr
    c = config(tmp_path, {"path": "sklearn:iris"}, name="ok.yaml")
    r = cli("train", c, "--set", "optimizer.lr=abc")
    assert r.exit_code == 2 and "optimizer.lr: expected a number, got 'abc'" in r.stderr
    r = cli("train", c, "--set", "optimizer.lr")
    assert r.exit_code == 2 and "expected KEY=VALUE" in r.stderr
    r = cli("train", str(tmp_path / "missing.yaml"))
    assert r.exit_code == 2 and "does not exist" in r.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    r = cli("train", c, "--set", f"output.dir={tmp_path / 'full'}", "--set", "output.overwrite=false")
    assert r.exit_code == 2 and "output.dir:" in r.stderr and "is not empty" in r.stderr


def test_data_error_exit_1_naming_the_file(tmp_path):
    data = write_images(tmp_path / "imgs", n=3, corrupt=True)
    c = config(tmp_path, {"path": str(data)}, experiment={"store": str(tmp_path / "s")})
    r = cli("train", c)
    assert r.exit_code == 1 and "broken.png" in r.stderr and "data.on_error: skip" in r.stderr


def test_evaluate_json_and_refs(iris, tmp_path):
    store, res = iris
    for ref in (res["output_dir"], "models:/iris@staging", "models:/iris/1", "models:/iris"):
        r = cli("--store", store, "evaluate", ref, "--json")
        assert r.exit_code == 0, (ref, r.output)
        m = json.loads(r.stdout)
        assert m["data"] == "sklearn:iris" and m["samples"] == 150
        assert m["accuracy"] > 0.8 and np.array(m["confusion_matrix"]).sum() == 150
        assert set(m) >= {"f1_macro", "precision_macro", "recall_macro"}
    r = cli("--store", store, "evaluate", "models:/iris@nope")
    assert r.exit_code == 1 and "no alias 'nope'" in r.stderr
    r = cli("evaluate", str(tmp_path / "nofolder"))
    assert r.exit_code == 2 and "no such folder" in r.stderr
    r = cli("--store", store, "evaluate", res["output_dir"])
    assert r.exit_code == 0 and "confusion matrix" in r.stdout and "setosa" in r.stdout


def test_evaluate_and_predict_regression_table(tmp_path):
    path = write_table(tmp_path / "r.csv", n=150, regression=True)
    c = config(tmp_path, {"path": str(path), "label": "y"}, train={"epochs": 40}, optimizer={"lr": 0.01},
               experiment={"store": str(tmp_path / "s")}, model={"dropout": 0.0})
    r = cli("train", c, "--json", "-q")
    out = json.loads(r.stdout)["output_dir"]
    r = cli("evaluate", out, "--data", str(path), "--json")
    m = json.loads(r.stdout)
    assert set(m) >= {"mae", "rmse", "r2"} and m["r2"] > 0.9
    r = cli("predict", out, str(path), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 150 and rows[0]["input"] == f"{path}:1"
    truth = [float(x["y"]) for x in csv.DictReader(open(path))]
    assert np.mean(np.abs(np.array([float(x["value"]) for x in rows]) - truth)) < 0.6


def test_predict_images_json_csv_and_file(tmp_path):
    data = write_images(tmp_path / "imgs", n=10)
    c = config(tmp_path, {"path": str(data), "image": {"size": [12, 12]}}, model={"name": "cnn", "channels": [8]},
               train={"epochs": 6}, optimizer={"lr": 0.01}, experiment={"store": str(tmp_path / "s")})
    r = cli("train", c, "--json", "-q")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)["output_dir"]
    r = cli("predict", out, str(data / "dark"), str(data / "bright" / "0.png"))
    assert r.exit_code == 0, r.output
    preds = json.loads(r.stdout)
    assert len(preds) == 11 and preds[-1]["input"].endswith("bright/0.png")
    assert set(preds[0]) == {"input", "label", "probabilities"}
    assert set(preds[0]["probabilities"]) == {"bright", "dark"}
    assert np.mean([p["label"] == "dark" for p in preds[:10]]) >= 0.8
    r = cli("predict", out, str(data / "dark"), "--format", "csv", "-o", str(tmp_path / "p.csv"))
    assert r.exit_code == 0 and "10 predictions written" in r.stderr
    rows = list(csv.reader(open(tmp_path / "p.csv")))
    assert rows[0] == ["input", "label", "p_bright", "p_dark"] and len(rows) == 11
    r = cli("predict", out, str(tmp_path / "missing.png"))
    assert r.exit_code == 1 and "missing.png" in r.stderr and "does not exist" in r.stderr
    r = cli("predict", out)
    assert r.exit_code == 2
    r = cli("predict", out, "--text", "hello")
    assert r.exit_code == 2 and "takes image inputs" in r.stderr


def test_predict_text(tmp_path):
    path = write_text(tmp_path / "t.csv")
    c = config(tmp_path, {"path": str(path), "tokenizer": {"max_length": 10}}, model={"name": "text_bag"},
               train={"epochs": 15}, optimizer={"lr": 0.01}, experiment={"store": str(tmp_path / "s")})
    out = json.loads(cli("train", c, "--json", "-q").stdout)["output_dir"]
    (tmp_path / "one.txt").write_text("wonderful loved excellent")
    r = cli("predict", out, str(tmp_path / "one.txt"), "--text", "awful terrible hated")
    assert r.exit_code == 0, r.output
    preds = json.loads(r.stdout)
    assert [p["label"] for p in preds] == ["pos", "neg"] and preds[1]["input"] == "text:1"


def test_export(iris, tmp_path):
    store, res = iris
    dst = tmp_path / "sub" / "iris.onnx"
    r = cli("--store", store, "export", "models:/iris@staging", "--out", str(dst), "--opset", "17", "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["opset"] == 17 and info["max_abs_diff"] < 1e-5 and dst.exists()
    import onnxruntime as ort
    sess = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    ref = ort.InferenceSession(os.path.join(res["output_dir"], "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], ref.run(None, {"input": x})[0], rtol=1e-5,
                               atol=1e-6)
    r = cli("export", res["output_dir"])
    assert r.exit_code == 2 and "--out" in r.stderr


def test_help_on_every_command():
    for cmd in ("train", "evaluate", "predict", "export"):
        r = cli(cmd, "--help")
        assert r.exit_code == 0 and "Usage: " in r.stdout


def test_subprocess_python_m_tessel_train(tmp_path):
    c = config(tmp_path, {"path": "sklearn:iris"}, output={"register": "iris_sub"})
    env = {**os.environ, "TESSEL_STORE": str(tmp_path / "store")}
    p = subprocess.run([sys.executable, "-m", "tessel", "train", c, "--json", "--set", "train.epochs=2"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["model_version"]["folder"].startswith(str(tmp_path / "store"))
    assert "epoch 2/2" in p.stderr
    p = subprocess.run([sys.executable, "-m", "tessel", "train", c, "--set", "train.epochs=zero"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and "train.epochs: expected an integer, got 'zero'" in p.stderr


def _find_server():
    try:
        from tessel.cli.serve import find_server
        return find_server()
    except (ImportError, FileNotFoundError):
        return None


@pytest.mark.skipif(_find_server() is None, reason="tessel-serve was not built (TESSEL_WITH_SERVE=OFF)")
def test_registry_version_is_served(iris, tmp_path):
    """The version folder `tessel train` registered is served by tessel-serve as it is,
    and the served predictions equal the Predictor's."""
    store, res = iris
    from tessel.train import Predictor
    port_file = tmp_path / "port"
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen([_find_server(), "--model-repository", os.path.join(store, "registry"), "--http-port",
                             "0", "--port-file", str(port_file), "--threads", "1"], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert proc.poll() is None, open(log.name).read()
            assert time.monotonic() < deadline, "tessel-serve did not start"
            time.sleep(0.05)
        port = int(port_file.read_text())
        p = Predictor.load(res["model_version"]["folder"])
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        x = p.preprocess(rows).numpy()
        body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                            "data": x.reshape(-1).tolist()}]}
        for _ in range(100):  # the repository is polled: wait until the version is ready
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/v2/models/iris/versions/1/ready")
            status = c.getresponse().status
            c.close()
            if status == 200:
                break
            time.sleep(0.1)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/v2/models/iris/versions/1/infer", body=json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        out = json.loads(r.read())
        c.close()
        assert r.status == 200, out
        served = np.array(out["outputs"][0]["data"], dtype=np.float32).reshape(2, 3)
        np.testing.assert_allclose(served, p.run(p.preprocess(rows)), rtol=1e-5, atol=1e-6)
        assert [q["label"] for q in p.predict(rows)] == ["setosa", "virginica"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_models_register_from_a_train_output_folder(iris, tmp_path):
    """`tessel models register NAME --from OUT` makes a version equal to what output.register makes."""
    store, res = iris
    out = res["output_dir"]
    r = cli("--store", store, "models", "register", "iris-b", "--from", out, "--alias", "champion", "--json")
    assert r.exit_code == 0, r.output
    v = json.loads(r.stdout)
    assert v["name"] == "iris-b" and v["version"] == 1 and v["aliases"] == ["champion"]
    assert v["run_id"] == res["run_id"]  # from metrics.json
    assert v["metrics"]["val_accuracy"] == pytest.approx(res["metrics"]["val_accuracy"])
    files = set(os.listdir(v["folder"]))
    assert {"model.onnx", "signature.json", "config.yaml", "metrics.json", "history.csv"} <= files
    from tessel.train import Predictor
    a = Predictor.load(v["folder"]).predict([[5.1, 3.5, 1.4, 0.2]])
    b = Predictor.load(out).predict([[5.1, 3.5, 1.4, 0.2]])
    assert a == b
    # A folder that tessel train did not write, and --from mixed with file options, are refused.
    bad = tmp_path / "notrain"
    bad.mkdir()
    r = cli("--store", store, "models", "register", "x", "--from", str(bad))
    assert r.exit_code == 1 and "no config.yaml" in r.output
    r = cli("--store", store, "models", "register", "x", "--from", out, "--metric", "a=1")
    assert r.exit_code == 2 and "--from" in r.output
