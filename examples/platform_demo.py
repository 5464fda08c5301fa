"""From data to a served model with the `tessel` command, as `make demo` runs it:

1. `tessel train examples/configs/digits.yaml`: declarative training, tracked in a
   store and registered as `digits` (alias champion);
2. `tessel agent run wine.csv --target cultivar --trials 3`: the ML agent searches
   model families on a raw table and registers its winner;
3. `tessel serve --model-repository STORE/registry`: the C++ server holds both;
   one Open Inference Protocol request per model, checked against the same
   model run in process (tessel.train.Predictor).

    python examples/platform_demo.py [WORK_DIR]
"""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def tessel(*args, store):
    cmd = [sys.executable, "-m", "tessel", "--store", store, *args]
    print("$ tessel --store", store, " ".join(args), flush=True)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return out


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def ready(port, model):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{model}/ready", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def main():
    work = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "platform-demo")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    store = os.path.join(work, "store")

    # 1. declarative training, tracked and registered
    res = json.loads(tessel("train", os.path.join(HERE, "configs", "digits.yaml"), "--set",
                            f"output.dir={work}/digits", "--json", store=store))
    print(f"   digits: val_accuracy {res['metrics']['val_accuracy']:.3f}, run {res['run_id'][:8]}, "
          f"registered version {res['model_version']['version']}")

    # 2. the agent on a raw table (scikit-learn's wine, written as a CSV with named classes)
    from sklearn.datasets import load_digits, load_wine
    wine = load_wine()
    table = os.path.join(work, "wine.csv")
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(wine.feature_names) + ["cultivar"])
        for row, t in zip(wine.data, wine.target):
            w.writerow([f"{v:.4g}" for v in row] + [f"cultivar_{t}"])
    agent = json.loads(tessel("agent", "run", table, "--target", "cultivar", "--trials", "3", "--seed", "0",
                              "--json", store=store))
    print(f"   wine: test_accuracy {agent['test_metrics']['test_accuracy']:.3f}, "
          f"registered {agent['model_version']['name']} version {agent['model_version']['version']}")
    print(tessel("models", "list", store=store), end="")

    # 3. serve the registry folder, one request per model, compared with the in-process run
    from tessel.train import Predictor
    port_file = os.path.join(work, "port")
    log = open(os.path.join(work, "serve.log"), "w")
    cmd = [sys.executable, "-m", "tessel", "serve", "--model-repository", os.path.join(store, "registry"),
           "--http-port", "0", "--port-file", port_file]
    print("$ tessel serve --model-repository", os.path.join(store, "registry"), "&", flush=True)
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("tessel serve did not start:\n" + open(log.name).read())
            time.sleep(0.05)
        port = int(open(port_file).read())
        digits = load_digits()
        cases = [("digits", [list(map(float, r)) for r in digits.data[:4]], list(digits.target[:4])),
                 ("wine", [dict(zip(wine.feature_names, map(float, r))) for r in wine.data[::60]],
                  [f"cultivar_{t}" for t in wine.target[::60]])]
        for name, items, truth in cases:
            while not ready(port, name):
                if time.monotonic() > deadline:
                    raise SystemExit(f"model {name} did not become ready:\n" + open(log.name).read())
                time.sleep(0.1)
            version = json.loads(tessel("models", "show", name, "champion", "--json", store=store))
            pred = Predictor.load(version["folder"])
            x = pred.preprocess(items).numpy()
            body = {"id": "demo", "inputs": [{"name": pred.input_name, "datatype": "FP32", "shape": list(x.shape),
                                              "data": x.reshape(-1).tolist()}]}
            out = post(port, f"/v2/models/{name}/infer", body)
            served = np.array(out["outputs"][0]["data"], dtype=np.float32).reshape(len(items), -1)
            local = np.asarray(pred.run(pred.preprocess(items)))
            err = float(np.max(np.abs(served - local)))
            labels = [pred.classes[int(k)] for k in served.argmax(1)]
            print(f"   POST /v2/models/{name}/infer -> {labels} (true {[str(t) for t in truth]}), "
                  f"max |served - in process| = {err:.1e}")
            if err > 1e-5:
                raise SystemExit(f"{name}: the served output differs from the in-process run by {err}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    print(f"platform demo done; the store is {store} (tessel --store {store} ui to browse it)")


if __name__ == "__main__":
    main()
