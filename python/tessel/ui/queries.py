"""Read-only queries the pages need beyond the store's public API: the runs
table (filter and sort by parameters and metrics, in SQL so that 10,000 runs
stay fast) and metric series downsampled in the database."""
import concurrent.futures
import math
import os
import re

from sqlalchemy import Float, and_, bindparam, cast, func, select

from ..store import schema as S
from ..store.tracking import RUN_STATUSES, RunInfo

_FILTER = re.compile(r"^\s*([^\s<>=!]+)\s*(<=|>=|!=|==|=|<|>)\s*(.*?)\s*$")
SORT_COLUMNS = ("start_time", "end_time", "name", "status", "experiment", "duration")
PAGE_SIZES = (20, 50, 100, 200, 500)


class QueryError(ValueError):
    """A filter or sort the runs table cannot read; the message names it."""


def parse_filters(text, what):
    """'lr=0.01, val_accuracy>0.9' -> [(key, op, value)]. Clauses are separated
    by commas or ' and '."""
    out = []
    if not text or not text.strip():
        return out
    for clause in re.split(r",|\band\b", text):
        if not clause.strip():
            continue
        m = _FILTER.match(clause)
        if not m or not m.group(3):
            raise QueryError(f"{what} filter {clause.strip()!r} is not KEY OP VALUE (OP one of = != < <= > >=)")
        key, op, value = m.groups()
        op = "=" if op == "==" else op
        value = value.strip("'\"")
        if what == "metric":
            try:
                value = float(value)
            except ValueError:
                raise QueryError(f"metric filter {clause.strip()!r}: {value!r} is not a number") from None
        elif op not in ("=", "!="):
            try:
                float(value)
            except ValueError:
                raise QueryError(f"param filter {clause.strip()!r}: {op} needs a number") from None
        out.append((key, op, value))
    return out


def _compare(col, op, value):
    return {"=": col == value, "!=": col != value, "<": col < value, "<=": col <= value, ">": col > value,
            ">=": col >= value}[op]


def _last_value(key):
    """Correlated scalar subquery: the run's last value of metric `key` (highest
    step, newest row). One backwards probe of the (run_id, key, step) index per
    run, so sorting or filtering 10,000 runs by a metric stays fast."""
    M, R = S.Metric, S.Run
    return (select(M.value).where(M.run_id == R.id, M.key == key).order_by(M.step.desc(), M.id.desc()).limit(1)
            .correlate(R).scalar_subquery())


def _param_value(key):
    P, R = S.Param, S.Run
    return select(P.value).where(P.run_id == R.id, P.key == key).correlate(R).scalar_subquery()


def runs_query(experiment=None, status=None, params=(), metrics=(), sort="start_time", descending=True):
    """(select of RunInfo columns, count select) with the filters and the order applied."""
    R, E = S.Run, S.Experiment
    q = select(R.id, E.name.label("experiment"), R.name, R.status, R.start_time, R.end_time) \
        .join(E, E.id == R.experiment_id)
    conds = []
    if experiment:
        conds.append(E.name == experiment)
    if status:
        if status not in RUN_STATUSES:
            raise QueryError(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        conds.append(R.status == status)
    for key, op, value in params:
        col = _param_value(key)
        if op in ("=", "!="):
            conds.append(col.is_not(None))  # a run without the parameter matches neither = nor !=
            conds.append(_compare(col, op, value))
        else:  # numeric comparison of a JSON number
            conds.append(_compare(cast(col, Float), op, float(value)))
    for key, op, value in metrics:
        conds.append(_compare(_last_value(key), op, value))
    if conds:
        q = q.where(and_(*conds))
    count = select(func.count()).select_from(q.subquery())

    if sort in ("start_time", "end_time", "name", "status"):
        col = getattr(R, sort)
    elif sort == "experiment":
        col = E.name
    elif sort == "duration":
        col = R.end_time - R.start_time
    elif sort.startswith("param:") and len(sort) > 6:
        col = _param_value(sort[6:])
    elif sort.startswith("metric:") and len(sort) > 7:
        col = _last_value(sort[7:])
    else:
        raise QueryError(f"sort must be one of {', '.join(SORT_COLUMNS)}, param:KEY or metric:KEY; got {sort!r}")
    # Runs without the value go last either way.
    q = q.order_by(col.is_(None), col.desc() if descending else col.asc(), R.id)
    return q, count


def search(store, page=1, per_page=50, **kw):
    """(RunInfos of one page, total matching)."""
    q, count = runs_query(**kw)
    with store._db.tx() as c:
        total = c.execute(count).scalar()
        rows = c.execute(q.limit(per_page).offset((page - 1) * per_page)).mappings().all()
    return [RunInfo(**r) for r in rows], total


def search_all(store, **kw):
    q, _ = runs_query(**kw)
    with store._db.tx() as c:
        return [RunInfo(**r) for r in c.execute(q).mappings()]


def params_of(store, run_ids):
    """{run_id: {key: value}} in one query per 500 runs."""
    out = {r: {} for r in run_ids}
    ids = list(run_ids)
    with store._db.tx() as c:
        for i in range(0, len(ids), 500):
            for run_id, k, v in c.execute(select(S.Param.run_id, S.Param.key, S.Param.value)
                                          .where(S.Param.run_id.in_(ids[i:i + 500]))):
                out[run_id][k] = v
    return out


def summaries(store, run_ids, per_step=True):
    """{run_id: {key: {min, max, last, step, count}}} from store.metric_summary.
    per_step=False leaves out the "step/..." series (never read: see
    metric_summary's exclude_prefix), columns few people read on a table."""
    return store.metric_summary(run_ids, exclude_prefix=None if per_step else "step/")


# ----- series ----------------------------------------------------------------------------------------

class Series:
    """A metric series ready to draw: x (step), y (mean of the bucket or the
    point), lo/hi (min and max of the bucket), n (points in the bucket)."""

    __slots__ = ("key", "x", "y", "lo", "hi", "n", "total", "bucketed")

    def __init__(self, key, total, bucketed):
        self.key, self.total, self.bucketed = key, total, bucketed
        self.x, self.y, self.lo, self.hi, self.n = [], [], [], [], []


def series(store, run_id, key, buckets=500):
    """The series `key` of a run, downsampled in the database to at most
    `buckets` buckets of equal step width (min, max and mean per bucket) when
    it has more than 2 * buckets points, so a run of 10^6 points costs one
    aggregate query and a few hundred points to draw."""
    M = S.Metric
    where = (M.run_id == run_id, M.key == key)
    with store._db.tx() as c:
        total, lo, hi = c.execute(select(func.count(), func.min(M.step), func.max(M.step)).where(*where)).one()
        s = Series(key, total or 0, False)
        if not total:
            return s
        if total <= 2 * buckets or hi == lo:
            for step, v in c.execute(select(M.step, M.value).where(*where).order_by(M.step, M.id)):
                v = math.nan if v is None else v
                s.x.append(step), s.y.append(v), s.lo.append(v), s.hi.append(v), s.n.append(1)
            return s
        s.bucketed = True
        span = hi - lo + 1
        # Bucket i holds the steps with (step - lo) * buckets // span == i. One aggregate per bucket over
        # its index range: no sort of the points (a GROUP BY on the bucket number sorts them all first,
        # about twice the time).
        edges = [lo + (span * i + buckets - 1) // buckets for i in range(buckets + 1)]
        ranges = [(a, b) for a, b in zip(edges, edges[1:]) if b > a]
        if store._db.is_sqlite:
            # The same statement hundreds of times: straight to sqlite3 (its statement cache), skipping
            # SQLAlchemy's per-call work, which would cost more than the scan itself.
            cur = c.connection.cursor()
            sql = ("SELECT min(step), max(step), min(value), max(value), avg(value), count(value), count(*) "
                   "FROM metrics WHERE run_id = ? AND key = ? AND step >= ? AND step < ?")
            rows_ = [cur.execute(sql, (run_id, key, a, b)).fetchone() for a, b in ranges]
            cur.close()
        else:
            a, b = bindparam("a"), bindparam("b")
            q = select(func.min(M.step), func.max(M.step), func.min(M.value), func.max(M.value), func.avg(M.value),
                       func.count(M.value), func.count()).where(*where, M.step >= a, M.step < b)
            rows_ = [c.execute(q, {"a": a_, "b": b_}).one() for a_, b_ in ranges]
        for s0, s1, vmin, vmax, vavg, n, rows in rows_:
            if not rows:
                continue
            nan = n == 0  # only NaN points in the bucket
            s.x.append((s0 + s1) / 2)
            s.y.append(math.nan if nan else float(vavg))
            s.lo.append(math.nan if nan else float(vmin))
            s.hi.append(math.nan if nan else float(vmax))
            s.n.append(max(n, 1))
    return s


def last_point(store, run_id, key):
    """(step, value) of the series' last point (highest step, newest row): one index probe."""
    M = S.Metric
    with store._db.tx() as c:
        row = c.execute(select(M.step, M.value).where(M.run_id == run_id, M.key == key)
                        .order_by(M.step.desc(), M.id.desc()).limit(1)).first()
    if row is None:
        return None, math.nan
    return row[0], math.nan if row[1] is None else row[1]


def summary_of(store, run_id, s):
    """store.metric_summary's figures for one series, from its downsampled form
    (min of the bucket minima, max of the maxima: exact) plus one probe for the
    last point, so a page that draws a series does not scan it twice."""
    if not s.total:
        return None
    finite_lo = [v for v in s.lo if not math.isnan(v)]
    finite_hi = [v for v in s.hi if not math.isnan(v)]
    step, last = last_point(store, run_id, s.key)
    return {"min": min(finite_lo) if finite_lo else math.nan, "max": max(finite_hi) if finite_hi else math.nan,
            "last": last, "step": step, "count": s.total}


def many_series(store, jobs, buckets=500, workers=None):
    """[(Series, summary)] for [(run_id, key)], on a few threads: the database
    does the work with the GIL released (SQLite readers in WAL mode run side by
    side on their own connections)."""
    def one(job):
        s = series(store, job[0], job[1], buckets)
        return s, summary_of(store, job[0], s)

    workers = workers or min(4, os.cpu_count() or 1, len(jobs))
    if workers <= 1:
        return [one(j) for j in jobs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tessel-ui-series") as ex:
        return list(ex.map(one, jobs))
