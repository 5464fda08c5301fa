"""The ML agent on raw files against AutoGluon on hand-written features (issue 14's raw-file benchmark).

Three sets, generated here (bench-only, never in CI) with a fixed seed as
folders the agent reads directly:

- easy_speech: the spoken digits zero..nine (espeak-ng: 4 English accents x
  8 voice variants, speeds 140-190 words/min, pitches 35-65); train/ and
  test/ drawn from the same voices.
- hard_speech: 16 words (yes no up down left right on off stop go dog cat bed
  tree house bird) with background noise (white + brown, SNR 0-15 dB), a
  random onset (0-0.3 s), speeds 110-220 and pitches 20-80; test/ is spoken
  by voice variants that no training file uses (held-out voices).
- text: this machine's man pages of sections 1, 2, 3, 5 and 8, read from
  the roff source in /usr/share/man and stripped to text; the title line and
  the section numbers of page references ("open(2)") are removed so the text
  does not spell out its label. One .txt per page in one folder per section.

Systems, each in its own process, one after another, the same budget:

- tessel: ts.agent.AutoML(budget=B, seed=S).fit(SET/train) straight from the
  folder (its own held-out split is inside the training folder), then
  result.predict(the test files);
- autogluon: AutoGluon-Tabular presets="medium_quality" on features a user
  would write: 20 MFCCs (+ deltas) means and standard deviations over time,
  plus duration and RMS (NumPy/SciPy, no librosa in that venv), or TF-IDF of
  words (1-2 grams, 2000 features, sublinear tf) for text; time_limit = B
  minus the seconds the decoding and featurization took, so that both count;
- anchors (no budget, they are quick): logistic regression on the same
  features (anchor_lr), and for the speech sets one fixed, unsearched
  tessel audio_cnn trained from the folder (anchor_cnn: channels 16/32/64,
  Adam 3e-3, 15 epochs), as the issue's anchors.

Accuracy on test/; "time" is fit + test prediction measured inside each run's
process after its imports (1.05 x budget + 5 s or a failure is a loss, as in
bench_agent.py).

    .venv/bin/python bench/bench_agent_raw.py --generate            # the three sets (~1 min)
    .venv/bin/python bench/bench_agent_raw.py --budget 120 --json /tmp/raw.json
    .venv/bin/python bench/bench_agent_raw.py --sets hard_speech --systems tessel --budget 120 --verbose

Needs espeak-ng (Debian: apt-get install espeak-ng) and man pages under
/usr/share/man (the man-db package's), both bench prerequisites only.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_agent import DEFAULT_AUTOML_PY, _clean_env, overrun_limit, write_readme  # noqa: E402

SETS = ("easy_speech", "hard_speech", "text")
SYSTEMS = ("tessel", "autogluon", "anchor_lr", "anchor_cnn")
GOALS = {"easy_speech": 0.995, "hard_speech": 0.88, "text": 0.86}
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "dog", "cat", "bed", "tree",
         "house", "bird")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-029")
EASY_VARIANTS = ("m1", "m2", "m3", "m4", "f1", "f2", "f3", "f4")
NO_VARIANTS = ("whisper", "whisperf", "fast")  # unvoiced or sped-up voices: not people speaking
MAN_SECTIONS = ("1", "2", "3", "5", "8")
SR = 22050  # espeak-ng's rate


# ----- data: speech --------------------------------------------------------------------------------------

def _variants():
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    names = sorted({ln.split()[4].split("/", 1)[1] for ln in out.splitlines()[1:] if len(ln.split()) >= 5})
    return [n for n in names if n not in NO_VARIANTS]


def _speak(word, accent, variant, speed, pitch):
    """float64 samples in [-1, 1] at SR, leading/trailing silence trimmed."""
    import numpy as np
    r = subprocess.run(["espeak-ng", "-v", f"{accent}+{variant}", "-s", str(speed), "-p", str(pitch), "--stdout",
                        word], capture_output=True, check=True)
    raw = r.stdout
    i = raw.find(b"data")
    x = np.frombuffer(raw[i + 8:], dtype="<i2").astype(np.float64) / 32768.0
    loud = np.flatnonzero(np.abs(x) > 0.01)
    if loud.size:
        x = x[max(0, loud[0] - 400):loud[-1] + 400]
    return x


def _write_wav(path, x):
    import numpy as np
    from scipy.io import wavfile
    os.makedirs(os.path.dirname(path), exist_ok=True)
    wavfile.write(path, SR, (np.clip(x, -1, 1) * 32767).astype(np.int16))


def _noisy(x, rng, snr_db, onset_s, total_s=1.6):
    """x after a silent onset, padded to total_s, plus white + brown noise at snr_db under the speech RMS."""
    import numpy as np
    n = max(int(total_s * SR), int(onset_s * SR) + len(x))
    y = np.zeros(n)
    k = int(onset_s * SR)
    y[k:k + len(x)] = x
    white = rng.standard_normal(n)
    brown = np.cumsum(rng.standard_normal(n))
    brown -= np.convolve(brown, np.ones(2001) / 2001, mode="same")  # keep it from wandering off
    noise = white / white.std() + rng.uniform(0.5, 2.0) * brown / (brown.std() + 1e-12)
    rms = np.sqrt(np.mean(x ** 2)) + 1e-12
    noise *= rms / (np.sqrt(np.mean(noise ** 2)) * 10 ** (snr_db / 20))
    y = y + noise
    return y * (rng.uniform(0.3, 0.9) / (np.abs(y).max() + 1e-12))


def gen_easy(root, seed, per_class=(60, 20)):
    import numpy as np
    rng = np.random.default_rng(seed)
    for split, n in zip(("train", "test"), per_class):
        for w in DIGITS:
            for j in range(n):
                x = _speak(w, ACCENTS[rng.integers(len(ACCENTS))], EASY_VARIANTS[rng.integers(len(EASY_VARIANTS))],
                           int(rng.choice((140, 165, 190))), int(rng.choice((35, 50, 65))))
                _write_wav(os.path.join(root, split, w, f"{w}-{j:03d}.wav"), x)


def gen_hard(root, seed, per_class=(60, 20)):
    import numpy as np
    rng = np.random.default_rng(seed + 1)
    variants = _variants()
    order = rng.permutation(len(variants))
    n_test = max(4, len(variants) // 4)
    held = sorted(variants[i] for i in order[:n_test])
    seen = sorted(variants[i] for i in order[n_test:])
    for split, n, pool in (("train", per_class[0], seen), ("test", per_class[1], held)):
        for w in WORDS:
            for j in range(n):
                x = _speak(w, ACCENTS[rng.integers(len(ACCENTS))], pool[rng.integers(len(pool))],
                           int(rng.integers(110, 221)), int(rng.integers(20, 81)))
                y = _noisy(x, rng, rng.uniform(0.0, 15.0), rng.uniform(0.0, 0.3))
                _write_wav(os.path.join(root, split, w, f"{w}-{j:03d}.wav"), y)
    with open(os.path.join(root, "voices.json"), "w") as f:
        json.dump({"train": seen, "test": held}, f, indent=1)


# ----- data: man pages -----------------------------------------------------------------------------------

_DROP_MACROS = {"TH", "Dt", "Dd", "Os", "so", "nr", "ds", "ig", "if", "ie", "el", "ft", "ps", "ne", "sp", "in",
                "ti", "ta", "hy", "nh", "ad", "na", "ll", "lf", "mso", "tr", "cc", "ec", "eo", "rm", "rn", "am",
                "als", "de1", "do", "ev", "fc", "ch", "wh", "pl", "pc", "lt", "ev", "UC", "AT", "IX"}
_ESC = [(re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""), (re.compile(r"\\s[+-]?\d+"), ""),
        (re.compile(r"\\\*(\[[^\]]*\]|\(..|.)"), " "), (re.compile(r"\\\((..)"), " "),
        (re.compile(r"\\\[[^\]]*\]"), " "), (re.compile(r"\\[-e]"), "-"), (re.compile(r"\\[&|^%c0:!)]"), ""),
        (re.compile(r"\\(.)"), r"\1")]
_XREF = re.compile(r"\b([\w.:+-]+)\s*\(\s*[1-9][a-z0-9+]*\s*\)")


def roff_text(src):
    """Readable text of a man page's roff (man or mdoc macros): comments, the
    title line, macro definitions and formatting requests dropped, macro
    arguments kept, escapes removed, page references without their section."""
    out, skip_def = [], False
    for line in src.splitlines():
        if skip_def:
            skip_def = not line.startswith("..")
            continue
        if line.startswith((".\\\"", "'\\\"", "\\\"")) or line.strip() in (".", "'"):
            continue
        if line[:1] in (".", "'"):
            parts = line[1:].strip().split(None, 1)
            if not parts:
                continue
            name = parts[0]
            if name in ("de", "de1", "am"):
                skip_def = True
                continue
            if name in _DROP_MACROS or name.startswith("\\\""):
                continue
            rest = parts[1] if len(parts) > 1 else ""
            if name == "Xr":  # mdoc page reference: name and section
                rest = rest.split()[0] if rest.split() else ""
            line = rest.replace('"', " ")
        for rx, rep in _ESC:
            line = rx.sub(rep, line)
        line = _XREF.sub(r"\1", line)
        if line.strip():
            out.append(" ".join(line.split()))
    return "\n".join(out)


def gen_text(root, seed, per_class=(150, 40), man_root="/usr/share/man"):
    import numpy as np
    rng = np.random.default_rng(seed + 2)
    for sec in MAN_SECTIONS:
        d = os.path.join(man_root, f"man{sec}")
        files = sorted(f for f in os.listdir(d) if not os.path.islink(os.path.join(d, f)))
        pages = []
        for i in rng.permutation(len(files)):
            if len(pages) == sum(per_class):
                break
            p = os.path.join(d, files[i])
            try:
                opener = gzip.open if p.endswith(".gz") else open
                with opener(p, "rt", encoding="utf-8", errors="replace") as f:
                    src = f.read()
            except OSError:
                continue
            text = roff_text(src)
            if len(text.split()) >= 30:  # .so redirections and stubs are not pages
                pages.append((files[i], text))
        if len(pages) < sum(per_class):
            raise SystemExit(f"{d}: only {len(pages)} pages of 30+ words, {sum(per_class)} needed")
        for split, chunk in (("train", pages[:per_class[0]]), ("test", pages[per_class[0]:])):
            os.makedirs(os.path.join(root, split, f"man{sec}"), exist_ok=True)
            for name, text in chunk:
                stem = re.sub(r"[^\w.+-]", "_", name[:-3] if name.endswith(".gz") else name)
                with open(os.path.join(root, split, f"man{sec}", stem + ".txt"), "w", encoding="utf-8") as f:
                    f.write(text + "\n")


def generate(data_root, seed, sets):
    if any(s.endswith("speech") for s in sets) and shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed (Debian: apt-get install espeak-ng); bench prerequisite")
    gens = {"easy_speech": gen_easy, "hard_speech": gen_hard, "text": gen_text}
    for s in sets:
        root = os.path.join(data_root, s)
        if os.path.exists(os.path.join(root, ".done")):
            continue
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        gens[s](root, seed)
        with open(os.path.join(root, ".done"), "w") as f:
            f.write(str(seed))
        print(f"generated {s} in {time.perf_counter() - t0:.1f} s: {root}", flush=True)


def listing(folder, exts):
    """[(path, class)] of a class-per-subfolder tree, sorted."""
    out = []
    for c in sorted(os.listdir(folder)):
        d = os.path.join(folder, c)
        if os.path.isdir(d):
            out += [(os.path.join(d, f), c) for f in sorted(os.listdir(d)) if f.endswith(exts)]
    return out


# ----- hand-written features (the AutoGluon and anchor runs) ----------------------------------------------

def mfcc_stats(path, n_mfcc=20, n_mels=40, sr=16000):
    """MFCC means and standard deviations over time (+ those of the deltas), duration and RMS:
    the features a user writes for audio with NumPy and SciPy."""
    import numpy as np
    from scipy.fft import dct
    from scipy.io import wavfile
    from scipy.signal import resample_poly
    rate, x = wavfile.read(path)
    x = x.astype(np.float64) / (32768.0 if x.dtype == np.int16 else 1.0)
    if x.ndim > 1:
        x = x.mean(1)
    if rate != sr:
        g = np.gcd(rate, sr)
        x = resample_poly(x, sr // g, rate // g)
    n_fft, hop = 512, 160
    x = np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft + 1)[:-1]
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    pts = 700 * (10 ** (np.linspace(mel(0), mel(sr / 2), n_mels + 2) / 2595) - 1)
    bins = np.fft.rfftfreq(n_fft, 1 / sr)
    fb = np.maximum(0, np.minimum((bins[None] - pts[:-2, None]) / (pts[1:-1, None] - pts[:-2, None]),
                                  (pts[2:, None] - bins[None]) / (pts[2:, None] - pts[1:-1, None])))
    logmel = np.log(power @ fb.T + 1e-10)
    c = dct(logmel, type=2, axis=1, norm="ortho")[:, :n_mfcc]
    d = np.gradient(c, axis=0) if len(c) > 1 else np.zeros_like(c)
    return np.concatenate([c.mean(0), c.std(0), d.mean(0), d.std(0), [len(x) / sr, np.sqrt(np.mean(x ** 2))]])


def features(a):
    """(X_train, y_train, X_test, y_test, names, test classes) for the set, TF-IDF or MFCC stats."""
    import numpy as np
    train, test = listing(os.path.join(a.data, "train"), (".wav", ".txt")), \
        listing(os.path.join(a.data, "test"), (".wav", ".txt"))
    if a.set == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer
        read = lambda p: open(p, encoding="utf-8").read()  # noqa: E731
        v = TfidfVectorizer(ngram_range=(1, 2), max_features=2000, sublinear_tf=True, min_df=2)
        xtr = v.fit_transform([read(p) for p, _ in train]).toarray()
        xte = v.transform([read(p) for p, _ in test]).toarray()
        names = [f"t{i}" for i in range(xtr.shape[1])]
    else:
        xtr = np.stack([mfcc_stats(p) for p, _ in train])
        xte = np.stack([mfcc_stats(p) for p, _ in test])
        names = [f"f{i}" for i in range(xtr.shape[1])]
    return xtr, [c for _, c in train], xte, [c for _, c in test], names


# ----- workers -------------------------------------------------------------------------------------------

def worker_tessel(a):
    import tessel as ts
    t0 = time.perf_counter()
    res = ts.agent.AutoML(budget=a.budget, seed=a.seed, store=os.path.join(a.tmp, "store"), register=False,
                          report=False, verbose=a.verbose).fit(os.path.join(a.data, "train"))
    test = listing(os.path.join(a.data, "test"), (".wav", ".txt"))
    items = [p for p, _ in test] if a.set != "text" else [open(p, encoding="utf-8").read() for p, _ in test]
    pred = [p["label"] for p in res.predict(items)]
    fit_s = time.perf_counter() - t0
    lb = res.leaderboard
    extra = {"trials": len(lb), "complete": sum(r["state"] == "COMPLETE" for r in lb),
             "families": sorted({r["family"] for r in lb}), "best": res.best["family"],
             "best_params": res.best.get("params"), "agent_test": res.test_metrics,
             "ensemble": bool(res.ensemble and res.ensemble.get("used")), "stages": res.stages}
    return pred, [c for _, c in test], fit_s, extra


def worker_autogluon(a):
    import pandas as pd
    from autogluon.tabular import TabularPredictor
    t0 = time.perf_counter()
    xtr, ytr, xte, yte, names = features(a)
    feat_s = time.perf_counter() - t0
    train = pd.DataFrame(xtr, columns=names)
    train["label"] = ytr
    p = TabularPredictor(label="label", problem_type="multiclass", path=os.path.join(a.tmp, "ag"), verbosity=0)
    p.fit(train, time_limit=max(5.0, a.budget - feat_s), presets="medium_quality")
    pred = [str(v) for v in p.predict(pd.DataFrame(xte, columns=names))]
    return pred, yte, time.perf_counter() - t0, {"best": str(p.model_best), "featurize_s": feat_s}


def worker_anchor_lr(a):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    t0 = time.perf_counter()
    xtr, ytr, xte, yte, _ = features(a)
    m = LogisticRegression(max_iter=2000, C=1.0 if a.set != "text" else 10.0)
    if a.set != "text":
        m = make_pipeline(StandardScaler(), m)
    m.fit(xtr, ytr)
    return [str(v) for v in m.predict(xte)], yte, time.perf_counter() - t0, {}


def worker_anchor_cnn(a):
    import tessel as ts
    from tessel.train import Predictor
    t0 = time.perf_counter()
    cfg = {"experiment": {"name": "raw-anchor", "track": False},
           "data": {"kind": "audio_folder", "path": os.path.join(a.data, "train"), "seed": a.seed},
           "model": {"name": "audio_cnn", "channels": [16, 32, 64]},
           "optimizer": {"name": "adam", "lr": 3e-3}, "train": {"epochs": 15, "batch_size": 64, "verbose": False,
                                                               "seed": a.seed},
           "output": {"dir": os.path.join(a.tmp, "cnn")}}  # the Predictor runs the exported model
    res = ts.train.run(cfg)
    test = listing(os.path.join(a.data, "test"), (".wav",))
    pred = [p["label"] for p in Predictor.load(res.output_dir).predict([p for p, _ in test])]
    return pred, [c for _, c in test], time.perf_counter() - t0, {}


def worker_main(a):
    fn = {"tessel": worker_tessel, "autogluon": worker_autogluon, "anchor_lr": worker_anchor_lr,
          "anchor_cnn": worker_anchor_cnn}[a.worker]
    try:
        pred, labels, fit_s, extra = fn(a)
        acc = sum(str(p) == str(y) for p, y in zip(pred, labels)) / len(labels)
        out = {"ok": True, "fit_s": fit_s, "accuracy": acc, "n_test": len(labels), "extra": extra}
    except Exception as e:  # noqa: BLE001  (recorded as a loss)
        import traceback
        out = {"ok": False, "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500],
               "traceback": traceback.format_exc(limit=8)}
    with open(a.out + ".part", "w") as f:
        json.dump(out, f, default=str)
    os.replace(a.out + ".part", a.out)


# ----- harness -------------------------------------------------------------------------------------------

def run_one(system, dset, data_root, budget, seed, automl_python, tmp_root, verbose):
    tmp = tempfile.mkdtemp(prefix=f"{system}-{dset}-", dir=tmp_root)
    out = os.path.join(tmp, "result.json")
    py = sys.executable if system in ("tessel", "anchor_cnn") else automl_python
    cmd = [py, os.path.abspath(__file__), "--worker", system, "--set", dset, "--data", os.path.join(data_root, dset),
           "--budget", repr(float(budget)), "--seed", str(seed), "--out", out, "--tmp", tmp] + \
        (["--verbose"] if verbose else [])
    env = None if py == sys.executable else _clean_env()
    t0 = time.perf_counter()
    row = {"system": system, "set": dset, "budget": budget}
    try:
        proc = subprocess.run(cmd, env=env, cwd=HERE, timeout=2 * budget + 300, text=True,
                              stdout=None if verbose else subprocess.DEVNULL,
                              stderr=None if verbose else subprocess.PIPE)
        rc, err = proc.returncode, (proc.stderr or "")[-2000:]
    except subprocess.TimeoutExpired:
        rc, err = None, "killed"
    row["process_s"] = time.perf_counter() - t0
    res = json.load(open(out)) if os.path.exists(out) else None
    if res is None or not res.get("ok"):
        row.update(ok=False, accuracy=None, error=(res or {}).get("error") or f"exit code {rc}: {err.strip()[-300:]}")
    else:
        over = system in ("tessel", "autogluon") and res["fit_s"] > overrun_limit(budget)
        row.update(ok=not over, accuracy=res["accuracy"], fit_s=res["fit_s"], n_test=res["n_test"],
                   extra=res.get("extra"), error=f"over budget: {res['fit_s']:.1f} s" if over else None)
    shutil.rmtree(tmp, ignore_errors=True)
    return row


def markdown(rows, sets, systems, budget, cmd, load):
    by = {(r["set"], r["system"]): r for r in rows}
    head = "| set | goal | " + " | ".join(systems) + " | tessel meets goal and beats anchors |"
    lines = [f"`{cmd}` (budget {budget:g} s; load average {load[0]:.1f} -> {load[1]:.1f} on 2 cores: "
             f"**loaded machine**)", "", head, "|" + "---|" * (len(systems) + 3)]
    for s in sets:
        cells = []
        for sy in systems:
            r = by.get((s, sy))
            if r is None:
                cells.append("-")
            elif r.get("accuracy") is None:
                cells.append(f"failed ({r['error'][:60]})")
            else:
                cells.append(f"{100 * r['accuracy']:.1f}% ({r['fit_s']:.0f} s)" + ("" if r["ok"] else " over"))
        t = by.get((s, "tessel"))
        anchors = [by[(s, x)]["accuracy"] for x in ("anchor_lr", "anchor_cnn") if (s, x) in by
                   and by[(s, x)].get("accuracy") is not None]
        verdict = "-"
        if t and t.get("accuracy") is not None:
            meets = t["ok"] and t["accuracy"] >= GOALS[s] and all(t["accuracy"] > x for x in anchors)
            verdict = "yes" if meets else "no"
        lines.append(f"| {s} | {100 * GOALS[s]:.1f}% | " + " | ".join(cells) + f" | {verdict} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--generate", action="store_true", help="generate the sets (if missing) and stop")
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--budget", type=float, default=120.0)
    p.add_argument("--data-root", default=os.path.join(tempfile.gettempdir(), "tessel-bench-raw"))
    p.add_argument("--automl-python", default=os.environ.get("TESSEL_AUTOML_PYTHON", DEFAULT_AUTOML_PY))
    p.add_argument("--json")
    p.add_argument("--write-readme", action="store_true")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    for k in ("--set", "--data", "--out", "--tmp"):
        p.add_argument(k, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return worker_main(a)
    sets = a.sets.split(",")
    systems = a.systems.split(",")
    for s in sets:
        if s not in SETS:
            p.error(f"unknown set {s!r}; known: {', '.join(SETS)}")
    for s in systems:
        if s not in SYSTEMS:
            p.error(f"unknown system {s!r}; known: {', '.join(SYSTEMS)}")
    generate(a.data_root, a.seed, sets)
    if a.generate:
        return 0
    tmp_root = tempfile.mkdtemp(prefix="tessel-bench-raw-")
    load0 = os.getloadavg()[0]
    rows = []
    for s in sets:
        for sy in systems:
            if sy == "anchor_cnn" and s == "text":
                continue
            r = run_one(sy, s, a.data_root, a.budget, a.seed, a.automl_python, tmp_root, a.verbose)
            rows.append(r)
            acc = "-" if r.get("accuracy") is None else f"{100 * r['accuracy']:.1f}%"
            print(f"{s:12s} {sy:10s} {acc:>7s}  fit {r.get('fit_s') or 0:6.1f} s  process {r['process_s']:6.1f} s"
                  + (f"  LOSS: {r['error']}" if r.get("error") else "")
                  + (f"  {json.dumps(r.get('extra'), default=str)[:400]}" if r.get("extra") else ""), flush=True)
    load1 = os.getloadavg()[0]
    cmd = "bench/bench_agent_raw.py " + " ".join(sys.argv[1:] if argv is None else argv)
    md = markdown(rows, sets, systems, a.budget, cmd, (load0, load1))
    print()
    print(md)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": rows, "budget": a.budget, "load": [load0, load1], "goals": GOALS}, f, indent=1,
                      default=str)
    if a.write_readme:
        write_readme(md, marker="bench-agent-raw")
    shutil.rmtree(tmp_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
