"""The agent's study journal under two writers: trials per second that two
processes record in one Optuna journal file (each trial: ask, the agent's
user attributes, tell; no training), with Optuna's default lock (a symlink,
waits backing off to 1 s) and with the agent's (flock, polled every 0.5 ms;
tessel.agent.search._journal_lock), side by side, alternated, medians.

    PYTHONPATH=<overlay> .venv/bin/python bench/bench_agent_journal.py [--trials 150] [--repeat 3]

What it isolates: how long a worker waits for the other's writes, the part
of "2 workers give 1.8x the trials per minute of one" that the storage
decides (the rest is cores: on a loaded machine a second process mostly gets
a larger share of the CPU from the scheduler).
"""
import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time

N_ATTRS = 11  # what the agent's search loop sets per trial (family, params, epochs, seconds, history, ...)


def _writer(path, lock_kind, trials, start, out):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from tessel.agent.search import _journal_lock
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    lock = _journal_lock(path, 30.0) if lock_kind == "flock" else None
    st = JournalStorage(JournalFileBackend(path, lock_obj=lock))
    study = optuna.load_study(study_name="bench", storage=st, sampler=optuna.samplers.RandomSampler(seed=os.getpid()))
    start.wait()
    t0 = time.perf_counter()
    for _ in range(trials):
        tr = study.ask()
        x = tr.suggest_float("x", 0.0, 1.0)
        for k in range(N_ATTRS):
            tr.set_user_attr(f"a{k}", [x] * 8)
        study.tell(tr, x)
    out.put(time.perf_counter() - t0)


def run(lock_kind, trials, workers):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    d = tempfile.mkdtemp(prefix="bench-journal-")
    path = os.path.join(d, "studies.journal")
    optuna.create_study(study_name="bench", storage=JournalStorage(JournalFileBackend(path)))
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, lock_kind, trials, start, out)) for _ in range(workers)]
    for p in procs:
        p.start()
    time.sleep(3.0)  # every writer imported and waiting
    t0 = time.perf_counter()
    start.set()
    secs = []
    while len(secs) < len(procs):
        try:
            secs.append(out.get(timeout=1.0))
        except Exception:  # noqa: BLE001  (queue.Empty: a writer that died says so, nothing waits forever)
            codes = [p.exitcode for p in procs]
            if any(c not in (None, 0) for c in codes):
                for p in procs:
                    p.kill()
                raise SystemExit(f"a writer failed (exit codes {codes})") from None
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    return workers * trials / wall, max(secs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=150, help="trials per writer")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    import optuna
    print(f"optuna {optuna.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} cores, "
          f"{a.trials} trials x {N_ATTRS + 2} journal writes per writer; load average {os.getloadavg()[0]:.2f}")
    res = {(k, w): [] for k in ("symlink", "flock") for w in (1, 2)}
    for _ in range(a.repeat):
        for w in (1, 2):
            for k in ("symlink", "flock"):
                rate, _ = run(k, a.trials, w)
                res[(k, w)].append(rate)
                print(f"  {k:7s} lock, {w} writer(s): {rate:7.1f} trials/s", flush=True)
    print("\n| lock | 1 writer trials/s | 2 writers trials/s | 2 / 1 |")
    print("|---|---:|---:|---:|")
    for k in ("symlink", "flock"):
        one, two = statistics.median(res[(k, 1)]), statistics.median(res[(k, 2)])
        print(f"| {k} ({'Optuna default' if k == 'symlink' else 'tessel agent'}) | {one:.1f} | {two:.1f} | "
              f"{two / one:.2f}x |")
    print(f"load average at the end {os.getloadavg()[0]:.2f} (loaded machine if > 2)")


if __name__ == "__main__":
    main()
