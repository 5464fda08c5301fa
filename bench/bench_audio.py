#!/usr/bin/env python3
"""Audio features: tessel vs librosa, SciPy, PyTorch and soxr (log-mel, resampling, rfft).

Three workloads, each at every thread count of --threads (default 1,2):

1. log-mel of 10 s of 16 kHz audio (float32): 80 bands, n_fft 400, hop 160,
   periodic Hann, centred with reflect padding, power 2, HTK mel scale without
   norm, then power_to_db (top_db 80). tessel:
   ts.audio.power_to_db(ts.audio.mel_spectrogram(x, n_mels=80, hop_length=160)).
   References computing the same numbers:
     librosa  power_to_db(feature.melspectrogram(y, sr, n_fft=400, hop_length=160,
              n_mels=80, htk=True, norm=None, pad_mode="reflect"))
     SciPy    scipy.signal.stft (boundary="even" = reflect, padded=False) rescaled
              to an unnormalised STFT, |Z|^2, librosa's mel filters, 10 log10, floor
     torch    torch.stft + mel matmul + 10 log10 + floor (torchaudio's MelSpectrogram
              and AmplitudeToDB pipeline), only if torch imports
   Goal: tessel >= 2x faster than the fastest reference.
2. resampling 10 s of 44.1 kHz to 16 kHz (float32): tessel quality "default"
   (torchaudio's Hann sinc, width 6) and "kaiser_best" vs soxr.resample "HQ" and
   "VHQ" and scipy.signal.resample_poly(x, 160, 441).
3. ts.fft.rfft of [1001, 400] float32 vs numpy.fft.rfft (and scipy.fft.rfft,
   torch.fft.rfft); GFLOP/s with the usual 2.5 n log2(n) flops per real
   transform, and % of the FMA peak measured now by bench/fma_peak.cpp.

librosa, SciPy, soxr and NumPy run single-threaded whatever the setting (their
FFTs and filters do not use threads here; NumPy's BLAS is set to the count).
"speed" = time(reference) / time(tessel): above 1.00x tessel is faster.

    .venv/bin/python bench/bench_audio.py [--quick] [--json PATH] [--threads 1,2]
"""
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import common  # noqa: E402
from bench_matmul import measure_fma_peak, print_fma_peak  # noqa: E402  (same FMA-peak mechanism)
from bench_train import busy_cpus  # noqa: E402

SR = 16000
SECONDS = 10.0
N_FFT, HOP, N_MELS, TOP_DB, AMIN = 400, 160, 80, 80.0, 1e-10
RS_FROM, RS_TO = 44100, 16000
FFT_SHAPE = (1001, 400)
GOAL_LOGMEL = 2.0


def optional(name):
    try:
        return __import__(name)
    except Exception as e:
        print(f"{name} is not installed ({type(e).__name__}: {e}): its rows are skipped")
        return None


def signal(sr, seconds, seed=0):
    """Tones under 5 kHz plus a log chirp and a little noise: float32, deterministic."""
    n = int(sr * seconds)
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    x = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)
    f0, f1 = 50.0, 5000.0
    x += 0.2 * np.sin(2 * np.pi * f0 * seconds / math.log(f1 / f0) * ((f1 / f0) ** (t / seconds) - 1))
    x += 0.005 * rng.standard_normal(n)
    return x.astype(np.float32)


# --------------------------------------------------------------------------
# 1. log-mel


def logmel_cases(ts, torch, librosa, scipy_signal, x):
    """[(library, fn, note)] computing the same 80-band log-mel; fn() -> array-like [80, frames]."""
    cases = []
    x_ts = ts.from_numpy(x)
    cases.append(("tessel", lambda: ts.audio.power_to_db(ts.audio.mel_spectrogram(
        x_ts, sample_rate=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS), top_db=TOP_DB), "torchaudio preset"))
    if librosa is not None:
        def lib():
            S = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, htk=True,
                                               norm=None, pad_mode="reflect")
            return librosa.power_to_db(S, top_db=TOP_DB)
        cases.append(("librosa", lib, f"librosa {librosa.__version__}"))
    else:
        cases.append(("librosa", None, "librosa not installed"))
    fb = None
    if librosa is not None:
        fb = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, htk=True, norm=None).astype(np.float32)
    if scipy_signal is not None and fb is not None:
        win = scipy_signal.get_window("hann", N_FFT).astype(np.float32)
        wsum = np.float32(win.sum())

        def sp():
            _, _, Z = scipy_signal.stft(x, window=win, nperseg=N_FFT, noverlap=N_FFT - HOP, nfft=N_FFT,
                                        boundary="even", padded=False, return_onesided=True)
            P = np.abs(Z * wsum) ** 2  # scipy scales by 1 / sum(window)
            db = 10.0 * np.log10(np.maximum(fb @ P, AMIN))
            return np.maximum(db, db.max() - TOP_DB)
        cases.append(("scipy", sp, "signal.stft + librosa mel filters"))
    else:
        cases.append(("scipy", None, "scipy or librosa (for the filters) not installed"))
    if torch is not None and fb is not None:
        x_t = torch.from_numpy(x)
        w_t = torch.hann_window(N_FFT)
        fb_t = torch.from_numpy(np.ascontiguousarray(fb.T))  # [bins, mels], torchaudio's layout

        def th():
            z = torch.stft(x_t, N_FFT, hop_length=HOP, win_length=N_FFT, window=w_t, center=True,
                           pad_mode="reflect", return_complex=True)
            mel = torch.matmul(z.abs().pow(2).transpose(-1, -2), fb_t).transpose(-1, -2)
            db = 10.0 * torch.log10(torch.clamp(mel, min=AMIN))
            return torch.maximum(db, db.amax() - TOP_DB).numpy()
        cases.append(("torch", th, "torchaudio-equivalent: stft + mel matmul + log10"))
    else:
        cases.append(("torch", None, "PyTorch not installed" if torch is None else "needs librosa's filters"))
    return cases


# --------------------------------------------------------------------------
# 2. resampling


def resample_cases(ts, soxr, scipy_signal, x):
    x_ts = ts.from_numpy(x)
    cases = [("tessel default", lambda: ts.audio.resample(x_ts, RS_FROM, RS_TO), "Hann sinc, width 6 (torchaudio)"),
             ("tessel kaiser_best", lambda: ts.audio.resample(x_ts, RS_FROM, RS_TO, quality="kaiser_best"),
              "Kaiser sinc, width 64")]
    for q in ("HQ", "VHQ"):
        if soxr is not None:
            cases.append((f"soxr {q}", lambda q=q: soxr.resample(x, RS_FROM, RS_TO, q), f"soxr {soxr.__version__}"))
        else:
            cases.append((f"soxr {q}", None, "soxr not installed"))
    if scipy_signal is not None:
        g = math.gcd(RS_FROM, RS_TO)
        cases.append(("scipy resample_poly", lambda: scipy_signal.resample_poly(x, RS_TO // g, RS_FROM // g),
                      "Kaiser FIR (5.0), polyphase"))
    else:
        cases.append(("scipy resample_poly", None, "scipy not installed"))
    return cases


# --------------------------------------------------------------------------
# 3. rfft


def rfft_cases(ts, torch, x):
    x_ts = ts.from_numpy(x)
    cases = [("tessel", lambda: ts.fft.rfft(x_ts), ""), ("numpy", lambda: np.fft.rfft(x), "pocketfft, float64 inside")]
    try:
        import scipy.fft as sfft
        cases.append(("scipy", lambda: sfft.rfft(x), "pocketfft, float32, workers=1"))
    except Exception:
        cases.append(("scipy", None, "scipy not installed"))
    if torch is not None:
        x_t = torch.from_numpy(x)
        cases.append(("torch", lambda: torch.fft.rfft(x_t), ""))
    else:
        cases.append(("torch", None, "PyTorch not installed"))
    return cases


def as_np(v):
    return np.asarray(v)


def run_section(key, cases, ref, check_kw, rep, repeat, target_s, extra=None):
    """Checks each case against ref (through extra(lib, got, ref) -> (got, ref) when given), then times it.
    Returns ({library: median ms}, {library: Timing})."""
    ms, timings = {}, {}
    for lib, fn, _ in cases:
        if fn is None:
            continue
        got = as_np(fn())
        if ref is not None:
            g = got
            if extra is not None:
                g, r = extra(lib, got, ref)
            else:
                r = ref
            common.check_close(f"{key}/{lib}", g, r, notes=rep.notes, **check_kw)
        tm = common.measure(fn, repeat=repeat, target_s=target_s)
        timings[lib] = tm
        ms[lib] = tm.median_ns / 1e6
    return ms, timings


def main():
    p = common.base_parser(__doc__.splitlines()[0])
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    repeat = 3 if args.quick else 9
    target_s = 0.03 if args.quick else 0.2

    ts = common.import_tessel()
    torch = common.import_torch()
    librosa = optional("librosa")
    soxr = optional("soxr")
    try:
        import scipy.signal as scipy_signal
        import scipy
    except Exception as e:
        print(f"scipy is not installed ({type(e).__name__}: {e}): its rows are skipped")
        scipy_signal = scipy = None
    rep = common.start("bench_audio", "log-mel, resampling and rfft vs librosa / SciPy / PyTorch / soxr",
                       args, np, ts, torch)
    print(f"software: librosa {getattr(librosa, '__version__', 'n/a')}, SciPy {getattr(scipy, '__version__', 'n/a')}, "
          f"soxr {getattr(soxr, '__version__', 'n/a')}")
    th = common.Threads(np, ts, torch)
    print(f"numpy threads: {th.numpy_method}")
    print(f"timing  : median of {repeat} samples (~{target_s} s each, calls per sample calibrated), "
          "1 warm-up sample, time.perf_counter_ns")
    print("ratios  : 'speed' = time(reference) / time(tessel) (>1.00x: tessel faster)")
    if not ts.audio.available:
        print("note    : tessel built without libsndfile (only file I/O is missing; nothing here needs it)")
    busy = busy_cpus()
    if busy is not None:
        print(f"busy    : other processes use {busy:.2f} CPUs right now (measured over 0.5 s)")
        usable = rep.machine.get("cpus_in_affinity") or os.cpu_count() or 1
        if busy >= 0.25 and max(threads) + busy > usable:
            rep.note(f"WARNING: {busy:.2f} CPUs busy elsewhere and up to {max(threads)} threads on {usable} "
                     "usable CPUs: figures will be off, multi-thread ones by far; run on an idle machine")
    peaks, peak_info = measure_fma_peak(threads, 0.1 if args.quick else 0.2, rep.notes)
    print_fma_peak(peaks, peak_info, threads)
    rep.settings = {"threads": threads, "repeat": repeat, "target_s": target_s,
                    "logmel": {"sr": SR, "seconds": SECONDS, "n_fft": N_FFT, "hop": HOP, "n_mels": N_MELS,
                               "top_db": TOP_DB},
                    "resample": {"from": RS_FROM, "to": RS_TO, "seconds": SECONDS}, "rfft_shape": list(FFT_SHAPE),
                    "fma_peak_gflops": peaks, "fma_peak_build": peak_info,
                    "numpy_thread_control": th.numpy_method, "busy_cpus_at_start": busy, "goal_logmel": GOAL_LOGMEL}

    x16 = signal(SR, SECONDS)
    x44 = signal(RS_FROM, SECONDS, seed=1)
    xf = np.random.default_rng(2).standard_normal(FFT_SHAPE, dtype=np.float32)
    frames = 1 + len(x16) // HOP

    # float64 references for the checks
    mel_ref = None
    if librosa is not None:
        mel_ref = librosa.power_to_db(librosa.feature.melspectrogram(
            y=x16.astype(np.float64), sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, htk=True, norm=None,
            pad_mode="reflect", dtype=np.float64), top_db=TOP_DB)
    rs_ref = soxr.resample(x44.astype(np.float64), RS_FROM, RS_TO, "VHQ") if soxr is not None else None
    fft_ref = np.fft.rfft(xf.astype(np.float64))

    def rs_align(lib, got, ref):
        n = min(got.shape[-1], ref.shape[-1])
        lo, hi = 2000, n - 2000  # away from the edges, where the filters' boundary handling differs
        return got[lo:hi], ref[lo:hi]

    goals, rows = [], []
    for t in threads:
        th.set(t)
        print("\n" + th.describe(t))

        # 1. log-mel
        cases = logmel_cases(ts, torch, librosa, scipy_signal, x16)
        ms, tms = run_section("logmel", cases, mel_ref, dict(rtol=0, atol=0.05), rep, repeat, target_s)
        refs = {k: v for k, v in ms.items() if k != "tessel"}
        fastest = min(refs, key=refs.get) if refs else None
        for lib, fn, note in cases:
            v = ms.get(lib)
            rows.append(["log-mel 80 x %d" % frames, lib, t, common.fmt(v, ".2f"),
                         f"{100 * tms[lib].spread:.0f}%" if lib in tms else "",
                         common.fmt_ratio(common.ratio(ms.get(lib), ms.get("tessel"))) if v else "n/a", note])
            rep.results.append({"workload": "logmel", "library": lib, "threads": t, "ms": v, "note": note,
                                "timing": tms[lib].to_dict() if lib in tms else None})
        if fastest and "tessel" in ms:
            sp = ms[fastest] / ms["tessel"]
            goals.append(f"log-mel, {t} thread(s): tessel {ms['tessel']:.2f} ms vs fastest reference {fastest} "
                         f"{ms[fastest]:.2f} ms: {sp:.2f}x vs goal >= {GOAL_LOGMEL:.1f}x -> "
                         f"{'MET' if sp >= GOAL_LOGMEL else 'NOT MET'}")
        rows.append(None)

        # 2. resampling
        cases = resample_cases(ts, soxr, scipy_signal, x44)
        # a sanity check only (the filters differ; tests/python/test_audio.py checks the values): 1e-2
        ms, tms = run_section("resample", cases, rs_ref, dict(rtol=0, atol=1e-2), rep, repeat, target_s,
                              extra=rs_align)
        for lib, fn, note in cases:
            v = ms.get(lib)
            rows.append([f"resample {RS_FROM // 1000}.1k->{RS_TO // 1000}k", lib, t, common.fmt(v, ".2f"),
                         f"{100 * tms[lib].spread:.0f}%" if lib in tms else "",
                         common.fmt_ratio(common.ratio(v, ms.get("tessel default"))) if v else "n/a", note])
            rep.results.append({"workload": "resample", "library": lib, "threads": t, "ms": v, "note": note,
                                "timing": tms[lib].to_dict() if lib in tms else None})
        rows.append(None)

        # 3. rfft
        cases = rfft_cases(ts, torch, xf)
        ms, tms = run_section("rfft", cases, fft_ref, dict(rtol=1e-4, atol=1e-3), rep, repeat, target_s,
                              extra=lambda lib, g, r: (np.stack([g.real, g.imag]), np.stack([r.real, r.imag])))
        flops = FFT_SHAPE[0] * 2.5 * FFT_SHAPE[1] * math.log2(FFT_SHAPE[1])
        for lib, fn, note in cases:
            v = ms.get(lib)
            extra = ""
            if v is not None:
                gf = flops / (v * 1e6)
                extra = f"{gf:.1f} GFLOP/s" + (f" ({100 * gf / peaks[t]:.0f}% peak)" if t in peaks else "")
            rows.append([f"rfft {FFT_SHAPE[0]}x{FFT_SHAPE[1]}", lib, t, common.fmt(v, ".3f"),
                         f"{100 * tms[lib].spread:.0f}%" if lib in tms else "",
                         common.fmt_ratio(common.ratio(v, ms.get("tessel"))) if v else "n/a",
                         "; ".join(s for s in (extra, note) if s)])
            rep.results.append({"workload": "rfft", "library": lib, "threads": t, "ms": v, "note": note,
                                "timing": tms[lib].to_dict() if lib in tms else None})
        rows.append(None)

    common.print_table(["workload", "library", "thr", "ms", "spread", "speed", "note"], rows[:-1],
                       title=f"float32; speed = time(row) / time(tessel) (log-mel, rfft) or time(row) / "
                             "time(tessel default) (resample): above 1.00x tessel is faster")
    print("\nGoals (speed = time of the fastest reference / tessel time):")
    for g in goals:
        print(g)
    rep.finish(args.json)


if __name__ == "__main__":
    main()
