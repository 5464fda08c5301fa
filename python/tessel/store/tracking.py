"""Experiments, runs, parameters, tags, metrics and artifacts."""
import contextlib
import os
import shutil
import time
import uuid

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy import exc as sa_exc

from . import schema as S
from ._common import (RUN_STATUSES, RunInfo, artifact_destination, check_end_status, check_name,  # noqa: F401
                      check_relative_path, contained, copy_artifacts, metric_rows, param_rows, params_conflict,
                      run_artifact_root, tag_rows)
from .errors import NotFoundError, StoreError


def _value(v):
    # SQLite stores NaN as NULL; NULL reads back as NaN.
    return float("nan") if v is None else v


class TrackingMixin:
    """Runs and what they record; mixed into Store (needs self._db and self.artifact_root)."""

    # ----- experiments ---------------------------------------------------------------------------

    def create_experiment(self, name, description=None):
        """Creates an experiment; returns its id. ValueError if it exists."""
        name = self._check_name(name, "experiment name")
        try:
            with self._db.tx(write=True) as c:
                return c.execute(insert(S.Experiment).values(name=name, description=description,
                                                             created_at=time.time())).inserted_primary_key[0]
        except sa_exc.IntegrityError:
            raise ValueError(f"experiment {name!r} already exists") from None

    def _experiment_id(self, conn, name, create):
        eid = conn.execute(select(S.Experiment.id).where(S.Experiment.name == name)).scalar()
        if eid is None and create:
            eid = conn.execute(insert(S.Experiment).values(name=name, created_at=time.time())).inserted_primary_key[0]
        if eid is None:
            raise NotFoundError(f"no experiment named {name!r} in the store {self._db.describe()}")
        return eid

    def list_experiments(self):
        """[{id, name, description, created_at, runs}] by name."""
        with self._db.tx() as c:
            counts = dict(c.execute(select(S.Run.experiment_id, func.count()).group_by(S.Run.experiment_id)).all())
            rows = c.execute(select(S.Experiment).order_by(S.Experiment.name)).mappings().all()
        return [dict(r, runs=counts.get(r["id"], 0)) for r in rows]

    _check_name = staticmethod(check_name)

    # ----- runs -------------------------------------------------------------------------------------

    def start_run(self, experiment="default", name=None, params=None, tags=None):
        """Starts a RUNNING run in `experiment` (created if new); returns its id."""
        experiment = self._check_name(experiment, "experiment name")
        run_id = uuid.uuid4().hex
        with self._db.tx(write=True) as c:
            eid = self._experiment_id(c, experiment, create=True)
            c.execute(insert(S.Run).values(id=run_id, experiment_id=eid, name=name, status="RUNNING",
                                           start_time=time.time()))
        if params:
            self.log_params(run_id, params)
        if tags:
            self.set_tags(run_id, tags)
        return run_id

    def end_run(self, run_id, status="FINISHED"):
        check_end_status(status)
        with self._db.tx(write=True) as c:
            n = c.execute(update(S.Run).where(S.Run.id == run_id).values(status=status, end_time=time.time())).rowcount
        if not n:
            raise NotFoundError(f"no run {run_id!r} in the store {self._db.describe()}")

    @contextlib.contextmanager
    def run(self, experiment="default", name=None, params=None, tags=None):
        """`with store.run("exp") as run_id:` ends FINISHED, or FAILED on an exception."""
        run_id = self.start_run(experiment, name, params, tags)
        try:
            yield run_id
        except KeyboardInterrupt:
            self.end_run(run_id, "KILLED")
            raise
        except BaseException:
            self.end_run(run_id, "FAILED")
            raise
        self.end_run(run_id)

    def resolve_run(self, run_id):
        """The full id of a run from its id or a unique prefix (as git does)."""
        if not isinstance(run_id, str) or not run_id:
            raise ValueError(f"run id must be a non-empty string, got {run_id!r}")
        with self._db.tx() as c:
            ids = c.execute(select(S.Run.id).where(S.Run.id.startswith(run_id, autoescape=True)).limit(2)).scalars()
            ids = list(ids)
        if not ids:
            raise NotFoundError(f"no run {run_id!r} in the store {self._db.describe()}")
        if len(ids) > 1:
            raise ValueError(f"run id prefix {run_id!r} is ambiguous: give more characters")
        return ids[0]

    def _run_infos(self, conn, where=None, order="start_time", descending=True, limit=None, offset=0):
        q = select(S.Run.id, S.Experiment.name.label("experiment"), S.Run.name, S.Run.status, S.Run.start_time,
                   S.Run.end_time).join(S.Experiment, S.Experiment.id == S.Run.experiment_id)
        if where is not None:
            q = q.where(where)
        col = {"start_time": S.Run.start_time, "end_time": S.Run.end_time, "name": S.Run.name,
               "status": S.Run.status}.get(order)
        if col is None:
            raise ValueError(f"order_by must be one of start_time, end_time, name, status; got {order!r}")
        q = q.order_by(col.desc() if descending else col.asc(), S.Run.id)
        if limit is not None:
            q = q.limit(limit).offset(offset)
        return [RunInfo(**r) for r in conn.execute(q).mappings()]

    def get_run(self, run_id):
        """RunInfo of one run (id or unique prefix)."""
        run_id = self.resolve_run(run_id)
        with self._db.tx() as c:
            return self._run_infos(c, S.Run.id == run_id)[0]

    def search_runs(self, experiment=None, status=None, limit=100, offset=0, order_by="start_time", descending=True):
        """RunInfos, newest first by default; filter by experiment name and status."""
        conds = []
        if status is not None:
            if status not in RUN_STATUSES:
                raise ValueError(f"status must be one of {RUN_STATUSES}, got {status!r}")
            conds.append(S.Run.status == status)
        with self._db.tx() as c:
            if experiment is not None:
                conds.append(S.Run.experiment_id == self._experiment_id(c, experiment, create=False))
            return self._run_infos(c, and_(*conds) if conds else None, order_by, descending, limit, offset)

    def count_runs(self, experiment=None):
        with self._db.tx() as c:
            q = select(func.count()).select_from(S.Run)
            if experiment is not None:
                q = q.where(S.Run.experiment_id == self._experiment_id(c, experiment, create=False))
            return c.execute(q).scalar()

    def delete_run(self, run_id):
        """Removes a run, its records and its artifact folder."""
        run_id = self.resolve_run(run_id)
        with self._db.tx(write=True) as c:
            for table in (S.Metric, S.Param, S.Tag, S.Artifact):
                c.execute(delete(table).where(table.run_id == run_id))
            c.execute(update(S.ModelVersion).where(S.ModelVersion.run_id == run_id).values(run_id=None))
            c.execute(delete(S.Run).where(S.Run.id == run_id))
        shutil.rmtree(os.path.join(self.artifact_root, "artifacts", run_id), ignore_errors=True)

    def _require_run(self, conn, run_id):
        if conn.execute(select(S.Run.id).where(S.Run.id == run_id)).scalar() is None:
            raise NotFoundError(f"no run {run_id!r} in the store {self._db.describe()}")

    # ----- params and tags --------------------------------------------------------------------------

    def log_params(self, run_id, params):
        """Records parameters (values stored as text, JSON for non-strings).
        A parameter is written once: a different value for a key raises ValueError."""
        rows = param_rows(params)
        with self._db.tx(write=True) as c:
            self._require_run(c, run_id)
            have = dict(c.execute(select(S.Param.key, S.Param.value).where(
                S.Param.run_id == run_id, S.Param.key.in_(list(rows)))).all())
            params_conflict(run_id, have, rows)
            new = [{"run_id": run_id, "key": k, "value": v} for k, v in rows.items() if k not in have]
            if new:
                c.execute(insert(S.Param), new)

    def get_params(self, run_id):
        with self._db.tx() as c:
            return dict(c.execute(select(S.Param.key, S.Param.value).where(S.Param.run_id == run_id)
                                  .order_by(S.Param.key)).all())

    def set_tags(self, run_id, tags):
        """Sets tags (key -> text); a tag may be changed."""
        rows = tag_rows(tags)
        with self._db.tx(write=True) as c:
            self._require_run(c, run_id)
            c.execute(delete(S.Tag).where(S.Tag.run_id == run_id, S.Tag.key.in_(list(rows))))
            if rows:
                c.execute(insert(S.Tag), [{"run_id": run_id, "key": k, "value": v} for k, v in rows.items()])

    def get_tags(self, run_id):
        with self._db.tx() as c:
            return dict(c.execute(select(S.Tag.key, S.Tag.value).where(S.Tag.run_id == run_id)
                                  .order_by(S.Tag.key)).all())

    # ----- metrics ------------------------------------------------------------------------------------

    def log_metric(self, run_id, key, value, step=0, timestamp=None):
        self.log_metrics(run_id, [(key, step, value, timestamp)])

    def log_metrics(self, run_id, points):
        """Bulk insert: `points` is an iterable of (key, step, value) or
        (key, step, value, timestamp), or a dict {key: value} logged at step 0.
        One transaction for all of them."""
        cols = ("run_id", "key", "step", "value", "timestamp")
        rows = [dict(zip(cols, r)) for r in metric_rows(run_id, points, time.time())]
        if not rows:
            return
        with self._db.tx(write=True) as c:
            self._require_run(c, run_id)
            c.execute(insert(S.Metric), rows)

    def metric_keys(self, run_id):
        with self._db.tx() as c:
            return list(c.execute(select(S.Metric.key).where(S.Metric.run_id == run_id).distinct()
                                  .order_by(S.Metric.key)).scalars())

    def metric_history(self, run_id, key, start=None, end=None, limit=None):
        """[(step, value, timestamp)] of one series in step order, steps in
        [start, end] when given (an index range scan)."""
        q = select(S.Metric.step, S.Metric.value, S.Metric.timestamp).where(S.Metric.run_id == run_id,
                                                                            S.Metric.key == key)
        if start is not None:
            q = q.where(S.Metric.step >= start)
        if end is not None:
            q = q.where(S.Metric.step <= end)
        q = q.order_by(S.Metric.step, S.Metric.id)
        if limit is not None:
            q = q.limit(limit)
        with self._db.tx() as c:
            return [(s, _value(v), t) for s, v, t in c.execute(q)]

    def metric_summary(self, run_ids, exclude_prefix=None):
        """{run_id: {key: {"min", "max", "last", "step", "count"}}}: min/max over
        the series, last = the value at the highest step. exclude_prefix
        leaves out the series whose names start with it ("step/": on runs that
        logged every optimizer step, their min/max is most of the work, a
        scan of every point); the rest is read as two key ranges of the
        (run_id, key, step) index, so the excluded series are never read.
        500 runs per query (bound-parameter limits)."""
        run_ids = list(run_ids)
        out = {r: {} for r in run_ids}
        if exclude_prefix is None:
            ranges = [(None, None)]
        else:
            if not isinstance(exclude_prefix, str) or not exclude_prefix:
                raise ValueError(f"metric_summary: exclude_prefix must be a non-empty string, got {exclude_prefix!r}")
            # keys < prefix, and keys >= the prefix with its last character incremented ("step/" -> "step0").
            ranges = [(None, exclude_prefix), (exclude_prefix[:-1] + chr(ord(exclude_prefix[-1]) + 1), None)]
        M = S.Metric
        for i in range(0, len(run_ids), 500):
            for lo, hi in ranges:
                cond = [M.run_id.in_(run_ids[i:i + 500])]
                if lo is not None:
                    cond.append(M.key >= lo)
                if hi is not None:
                    cond.append(M.key < hi)
                agg = (select(M.run_id, M.key, func.min(M.value).label("min"), func.max(M.value).label("max"),
                              func.max(M.step).label("step"), func.count().label("count"))
                       .where(*cond).group_by(M.run_id, M.key).subquery())
                # The last point: the newest row at the highest step.
                last_id = (select(M.run_id, M.key, func.max(M.id).label("id"))
                           .join(agg, and_(agg.c.run_id == M.run_id, agg.c.key == M.key, agg.c.step == M.step))
                           .group_by(M.run_id, M.key).subquery())
                q = (select(agg, M.value.label("last")).join(last_id, and_(last_id.c.run_id == agg.c.run_id,
                                                                           last_id.c.key == agg.c.key))
                     .join(M, M.id == last_id.c.id))
                with self._db.tx() as c:
                    for row in c.execute(q).mappings():
                        out[row["run_id"]][row["key"]] = {"min": _value(row["min"]), "max": _value(row["max"]),
                                                          "last": _value(row["last"]), "step": row["step"],
                                                          "count": row["count"]}
        return out

    # ----- artifacts ----------------------------------------------------------------------------------

    def _run_artifact_root(self, run_id):
        return run_artifact_root(self.artifact_root, run_id)

    def artifact_destination(self, run_id, artifact_path):
        """The file that artifact `artifact_path` of a run is kept in (its
        folder created, the path checked as log_artifact does): write a file
        there, then log_artifact(run_id, that_file, artifact_path) records it
        without copying."""
        return artifact_destination(self.artifact_root, run_id, artifact_path)

    def log_artifact(self, run_id, local_path, artifact_path=None):
        """Copies a file (or a folder, recursively) into the run's artifact
        folder as `artifact_path` (default: its base name); returns the list of
        artifact paths recorded. Paths that are absolute or leave the folder
        are refused with ArtifactPathError naming them."""
        if not os.path.exists(os.fspath(local_path)):
            raise FileNotFoundError(f"log_artifact: no file {os.fspath(local_path)}")
        with self._db.tx() as c:
            self._require_run(c, run_id)
        cols = ("run_id", "path", "size", "sha256", "created_at")
        rows = [dict(zip(cols, r)) for r in copy_artifacts(self.artifact_root, run_id, local_path, artifact_path,
                                                            time.time)]
        with self._db.tx(write=True) as c:
            c.execute(delete(S.Artifact).where(S.Artifact.run_id == run_id,
                                               S.Artifact.path.in_([r["path"] for r in rows])))
            c.execute(insert(S.Artifact), rows)
        return [r["path"] for r in rows]

    def list_artifacts(self, run_id):
        """[{path, size, sha256, created_at}] by path."""
        with self._db.tx() as c:
            return [dict(r) for r in c.execute(
                select(S.Artifact.path, S.Artifact.size, S.Artifact.sha256, S.Artifact.created_at)
                .where(S.Artifact.run_id == run_id).order_by(S.Artifact.path)).mappings()]

    def artifact_file(self, run_id, artifact_path):
        """The local file of a recorded artifact, for reading or download. The
        path is checked before anything is opened: ArtifactPathError when it
        leaves the run's folder, NotFoundError when it was never recorded."""
        rel = check_relative_path(artifact_path)
        full = contained(self._run_artifact_root(run_id), rel)
        with self._db.tx() as c:
            found = c.execute(select(S.Artifact.path).where(S.Artifact.run_id == run_id,
                                                            S.Artifact.path == rel)).scalar()
        if found is None or not os.path.isfile(full):
            raise NotFoundError(f"run {run_id} has no artifact {rel!r}")
        return full


__all__ = ["TrackingMixin", "RunInfo", "RUN_STATUSES", "StoreError"]
