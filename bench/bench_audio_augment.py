"""Audio augmentation (data.audio.augment) at a fixed number of epochs: the
agent's first audio trial (plan.defaults("audio_cnn"), the data section the
agent prepares for the folder) trained on SET/train and scored on SET/test,
with augmentation off and on, the same seed. Accuracy does not depend on the
machine's load here, unlike bench_agent_raw.py's time budget; seconds do.

    .venv/bin/python bench/bench_agent_raw.py --generate --sets hard_speech
    .venv/bin/python bench/bench_audio_augment.py --epochs 10 20
    .venv/bin/python bench/bench_audio_augment.py --epochs 10 --augment off '{"noise": 0}' '{"freq_masks": 1}'

--augment: the data.audio.augment settings tried (JSON over the schema's
defaults; "off": no augmentation), by default off and the defaults.
"""
import argparse
import json
import os
import sys
import tempfile
import time


def run(train, test, epochs, augment, seed):
    """augment: None (off) or the data.audio.augment keys (on)."""
    import tessel as ts
    from tessel.agent import plan
    from tessel.agent.prepare import prepare
    from tessel.agent.profile import profile
    work = tempfile.mkdtemp(prefix="bench-audio-augment-")
    # The agent's audio recipe for these files (rate, duration, 10 ms hops); its split is not used.
    data = dict(prepare(profile(train), train, None, work, 0.2, seed).data, path=train, val_path=test, seed=seed)
    params = dict(plan.defaults("audio_cnn"), **{"audio_cnn.augment": augment is not None})
    data["audio"]["augment"] = dict(augment or {})
    cfg = plan.to_config({"experiment": {"track": False}, "data": data,
                          "train": {"seed": seed, "verbose": False},
                          "output": {"dir": os.path.join(work, "out"), "export_onnx": False}}, params, epochs)
    t0 = time.perf_counter()
    r = ts.train.run(cfg)
    return {"epochs": epochs, "augment": augment, "test_accuracy": r.metrics["val_accuracy"],
            "train_accuracy": r.metrics.get("train_accuracy"), "seconds": time.perf_counter() - t0}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "tessel-bench-raw", "hard_speech"))
    p.add_argument("--epochs", type=int, nargs="+", default=[10])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--augment", nargs="+", default=["off", "{}"],
                   help="data.audio.augment settings tried: JSON, or off")
    p.add_argument("--json")
    a = p.parse_args(argv)
    train, test = os.path.join(a.data, "train"), os.path.join(a.data, "test")
    if not os.path.isdir(train):
        raise SystemExit(f"{train} is missing: bench/bench_agent_raw.py --generate --sets hard_speech")
    load0 = os.getloadavg()[0]
    rows = []
    for e in a.epochs:
        for v in a.augment:
            aug = None if v == "off" else json.loads(v)
            rows.append(run(train, test, e, aug, a.seed))
            r = rows[-1]
            print(f"epochs {e:3d}  augment {v}  test {100 * r['test_accuracy']:.1f}%  train "
                  f"{100 * (r['train_accuracy'] or 0):.1f}%  {r['seconds']:.0f} s", flush=True)
    load1 = os.getloadavg()[0]
    print(f"load average {load0:.1f} -> {load1:.1f} on {os.cpu_count()} cores; seed {a.seed}; {a.data}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": rows, "load": [load0, load1], "seed": a.seed, "data": a.data}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
