"""Tracking overhead on examples/train_digits.py's training (issue 13: < 2%).

Each measurement is a fresh process (so the Tracker's first-use costs, its
imports and the store's engine and schema creation, are counted), training
the digits CNN for 20 epochs with model.fit, with and without
ts.callbacks.Tracker (a new store in a temp folder, log_model=True: the
weights and the ONNX export are written as artifacts). Runs alternate
(without, with, without, ...) so that load drift on a shared machine hits
both alike; the figures are medians of --repeat runs each.

    PYTHONPATH=... python bench/bench_tracking.py --repeat 3 [--threads 2] [--json]

Reported: fit seconds without / with the Tracker and the overhead in %,
the time spent inside the Tracker's hooks (train begin, batch and epoch ends,
train end: the final writes, the model's weights and ONNX export, and the
wait for the writer thread, so that when fit returns the data is committed),
Tracker.close() after fit (nothing left to do; timed all the same), the
writer thread's store open and its CPU time, whether SQLAlchemy was
imported, and the load average.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def one_run(tracked, epochs, threads):
    """Runs in the child: returns {fit_s, hooks_s, close_s}."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import tessel as ts
    from train_digits import load_data, make_model
    from tessel import nn
    if threads:
        ts.set_num_threads(threads)
    ts.manual_seed(0)
    x_train, x_test, y_train, y_test = load_data()
    model = make_model()
    opt = ts.optim.Adam(model.parameters(), lr=3e-3)
    model.compile(optimizer=opt, loss=nn.CrossEntropyLoss(), metrics=["accuracy"],
                  scheduler=ts.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs))
    callbacks, hooks, hooks_cpu, start_bg, writer_cpu = [], [0.0], [0.0], [0.0, 0.0], [0.0]
    tmp = tempfile.mkdtemp(prefix="tessel-bench-track-")
    if tracked:
        from tessel.callbacks import Tracker
        from tessel.callbacks import tracker as tracker_mod

        class Timed(Tracker):
            pass

        for name in ("on_train_begin", "on_batch_end", "on_epoch_end", "on_train_end"):
            def timed(self, *a, _f=getattr(Tracker, name), **k):
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    return _f(self, *a, **k)
                finally:
                    hooks[0] += time.perf_counter() - t0
                    hooks_cpu[0] += time.thread_time() - c0
            setattr(Timed, name, timed)
        # The writer thread: opening the store and starting the run (wall and CPU), and its CPU in all.
        open_sink = tracker_mod._open_sink

        def timed_open(*a, **k):
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return open_sink(*a, **k)
            finally:
                start_bg[0], start_bg[1] = time.perf_counter() - t0, time.thread_time() - c0
        tracker_mod._open_sink = timed_open
        writer_run = tracker_mod._Writer.run

        def timed_writer(self):
            c0 = time.thread_time()
            try:
                writer_run(self)
            finally:
                writer_cpu[0] += time.thread_time() - c0
        tracker_mod._Writer.run = timed_writer
        callbacks.append(Timed(experiment="digits", store=os.path.join(tmp, "store")))
    start, cpu0, main0 = time.perf_counter(), time.process_time(), time.thread_time()
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, validation_data=(x_test, y_test), seed=0,
              verbose=0, callbacks=callbacks)
    fit_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu0  # every thread of the process: the tracker's background start included
    main_cpu_s = time.thread_time() - main0  # the training thread only
    close_s = 0.0
    sqlalchemy = any(m == "sqlalchemy" or m.startswith("sqlalchemy.") for m in sys.modules)
    if tracked:
        # When fit returns the run is committed; close() waits for the writer thread to close the store
        # (SQLite: the WAL checkpointed into the database file). Counted in the overhead.
        t0 = time.perf_counter()
        tracker = callbacks[0]
        tracker.close()
        close_s = time.perf_counter() - t0
        run = ts.store.open(os.path.join(tmp, "store")).get_run(tracker.run_id)
        assert run.status == "FINISHED", run.status
    return {"fit_s": fit_s, "cpu_s": cpu_s, "main_cpu_s": main_cpu_s, "hooks_s": hooks[0], "hooks_cpu_s": hooks_cpu[0],
            "start_bg_s": start_bg[0], "start_bg_cpu_s": start_bg[1], "writer_cpu_s": writer_cpu[0],
            "close_s": close_s, "sqlalchemy_imported_by_fit": sqlalchemy}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", choices=["plain", "tracked"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_run(args.child == "tracked", args.epochs, args.threads)))
        return
    results = {"plain": [], "tracked": []}
    load_before = os.getloadavg()
    for _ in range(args.repeat):
        for kind in ("plain", "tracked"):
            out = subprocess.run([sys.executable, __file__, "--child", kind, "--epochs", str(args.epochs),
                                  "--threads", str(args.threads)], capture_output=True, text=True, check=True)
            results[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    plain = statistics.median(r["fit_s"] for r in results["plain"])
    tracked = statistics.median(r["fit_s"] + r["close_s"] for r in results["tracked"])
    tracked_fit = statistics.median(r["fit_s"] for r in results["tracked"])
    cpu_plain = statistics.median(r["cpu_s"] for r in results["plain"])
    cpu_tracked = statistics.median(r["cpu_s"] for r in results["tracked"])
    summary = {"epochs": args.epochs, "repeat": args.repeat,
               "fit_s_without": plain, "fit_s_with": tracked, "overhead_pct": 100 * (tracked - plain) / plain,
               "fit_only_s_with": tracked_fit, "fit_only_overhead_pct": 100 * (tracked_fit - plain) / plain,
               "cpu_s_without": cpu_plain, "cpu_s_with": cpu_tracked,
               "cpu_overhead_pct": 100 * (cpu_tracked - cpu_plain) / cpu_plain,
               "hooks_s_median": statistics.median(r["hooks_s"] for r in results["tracked"]),
               "close_s_median": statistics.median(r["close_s"] for r in results["tracked"]),
               "hooks_pct_of_fit": 100 * statistics.median(r["hooks_s"] + r["close_s"] for r in results["tracked"])
               / plain,
               # CPU time on the training thread: insensitive to other processes taking the cores.
               "main_cpu_s_without": statistics.median(r["main_cpu_s"] for r in results["plain"]),
               "hooks_cpu_s_median": statistics.median(r["hooks_cpu_s"] for r in results["tracked"]),
               "hooks_cpu_pct_of_main_cpu": 100 * statistics.median(r["hooks_cpu_s"] for r in results["tracked"])
               / statistics.median(r["main_cpu_s"] for r in results["plain"]),
               "start_bg_s_median": statistics.median(r["start_bg_s"] for r in results["tracked"]),
               "start_bg_cpu_s_median": statistics.median(r["start_bg_cpu_s"] for r in results["tracked"]),
               "writer_cpu_s_median": statistics.median(r.get("writer_cpu_s", 0.0) for r in results["tracked"]),
               "sqlalchemy_imported_by_fit": any(r.get("sqlalchemy_imported_by_fit") for r in results["tracked"]),
               "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
               "runs": results}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"digits, {args.epochs} epochs, median of {args.repeat} fresh processes each")
        print(f"  fit without Tracker: {plain:.3f} s")
        print(f"  fit with Tracker:    {tracked:.3f} s  ({summary['overhead_pct']:+.2f}%), fit + close: until the "
              f"store is closed")
        print(f"  fit alone:           {tracked_fit:.3f} s  ({summary['fit_only_overhead_pct']:+.2f}%), when fit "
              f"returns the run is committed")
        print(f"  process CPU time:    {cpu_plain:.3f} s without, {cpu_tracked:.3f} s with "
              f"({summary['cpu_overhead_pct']:+.2f}%)")
        print(f"  inside the Tracker's hooks: {summary['hooks_s_median']:.3f} s + close {summary['close_s_median']:.3f}"
              f" s = {summary['hooks_pct_of_fit']:.2f}% of the untracked fit")
        print(f"  training-thread CPU in the hooks: {summary['hooks_cpu_s_median']:.3f} s = "
              f"{summary['hooks_cpu_pct_of_main_cpu']:.2f}% of the untracked fit's training-thread CPU "
              f"({summary['main_cpu_s_without']:.3f} s)")
        print(f"  writer thread: store open {summary['start_bg_s_median']:.3f} s wall, "
              f"{summary['start_bg_cpu_s_median']:.3f} s CPU; all its work {summary['writer_cpu_s_median']:.3f} s CPU")
        print(f"  SQLAlchemy imported by the tracked fit: {summary['sqlalchemy_imported_by_fit']}")
        print("  load average (1/5/15 min) before: {:.2f} {:.2f} {:.2f}, after: {:.2f} {:.2f} {:.2f}".format(
            *summary["loadavg_before"], *summary["loadavg_after"]))


if __name__ == "__main__":
    main()
