"""What both writers of a store share (the SQLAlchemy Store and the lean
sqlite3 writer): names, value conversions, artifact paths. Standard library
only, so that importing it (and tessel.store) costs no SQLAlchemy import."""
import dataclasses
import hashlib
import json
import math
import os
import re

RUN_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


@dataclasses.dataclass
class RunInfo:
    id: str
    experiment: str
    name: str
    status: str
    start_time: float
    end_time: float

    @property
    def duration(self):
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["duration"] = self.duration
        return d


def check_name(name, what):
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    if len(name) > 256:
        raise ValueError(f"{what} is longer than 256 characters")
    return name


def check_model_name(name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"model name {name!r} is not valid: use letters, digits, '_', '-' and '.', starting with a "
                         f"letter or digit, at most 128 characters (it names a folder of the registry)")
    return name


def check_alias(alias):
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise ValueError(f"alias {alias!r} is not valid: a letter or '_' then letters, digits, '_' or '-' "
                         f"(at most 64); numbers name versions")
    return alias


def check_end_status(status):
    if status not in RUN_STATUSES[1:]:
        raise ValueError(f"end_run: status must be one of {RUN_STATUSES[1:]}, got {status!r}")
    return status


def param_rows(params):
    """{key: text} of log_params' argument (values as text, JSON for non-strings)."""
    return {check_name(str(k), "parameter name"): (v if isinstance(v, str) else json.dumps(v, default=str))
            for k, v in dict(params).items()}


def tag_rows(tags):
    return {check_name(str(k), "tag name"): str(v) for k, v in dict(tags).items()}


def params_conflict(run_id, have, rows):
    """ValueError for the first parameter whose recorded value differs (parameters are written once)."""
    for k, v in rows.items():
        if k in have and have[k] != v:
            raise ValueError(f"parameter {k!r} of run {run_id} is already {have[k]!r}; "
                             f"parameters are written once (got {v!r})")


def metric_rows(run_id, points, now):
    """log_metrics' points as (run_id, key, step, value, timestamp) tuples,
    checked. NaN is stored as NULL (SQLite cannot store NaN)."""
    if isinstance(points, dict):
        points = [(k, 0, v) for k, v in points.items()]
    rows = []
    for p in points:
        key, step, value = p[0], p[1], p[2]
        if not isinstance(key, str) or not key:
            raise ValueError(f"metric name must be a non-empty string, got {key!r}")
        value = float(value)
        rows.append((run_id, key, int(step), None if math.isnan(value) else value,
                     float(p[3]) if len(p) > 3 and p[3] is not None else now))
    return rows


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_relative_path(path, what="artifact path"):
    """`path` as a normalized '/'-separated relative path, or ArtifactPathError
    naming it when it is absolute or climbs out ('..')."""
    from .errors import ArtifactPathError
    if not isinstance(path, str) or not path:
        raise ArtifactPathError(f"{what} must be a non-empty string, got {path!r}")
    p = path.replace("\\", "/")
    if p.startswith("/") or os.path.isabs(path) or (len(p) > 1 and p[1] == ":"):
        raise ArtifactPathError(f"{what} {path!r} is absolute: artifact paths are relative to the run's folder")
    parts = [s for s in p.split("/") if s not in ("", ".")]
    if not parts or any(s == ".." for s in parts):
        raise ArtifactPathError(f"{what} {path!r} leaves the run's artifact folder (no '..' allowed)")
    if any("\0" in s for s in parts):
        raise ArtifactPathError(f"{what} {path!r} contains a NUL byte")
    return "/".join(parts)


def contained(root, rel, what="artifact path"):
    """The absolute path of `rel` under `root`, refused (naming it) when links
    make it resolve outside `root`."""
    from .errors import ArtifactPathError
    rel = check_relative_path(rel, what)
    root_real = os.path.realpath(root)
    full = os.path.realpath(os.path.join(root_real, *rel.split("/")))
    if os.path.commonpath([root_real, full]) != root_real:
        raise ArtifactPathError(f"{what} {rel!r} resolves to {full}, outside the store folder {root_real}")
    return full


def run_artifact_root(artifact_root, run_id):
    return os.path.join(artifact_root, "artifacts", run_id)


def artifact_destination(artifact_root, run_id, artifact_path):
    """Where artifact `artifact_path` of a run lives (its folder created): a
    file written there and then logged with log_artifact is not copied."""
    dst = contained(run_artifact_root(artifact_root, run_id), check_relative_path(artifact_path))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    return dst


def copy_artifacts(artifact_root, run_id, local_path, artifact_path, now):
    """Copies a file or folder into the run's artifact folder (log_artifact's
    file work); returns the rows (run_id, path, size, sha256, created_at).
    A file that is already at its destination is not copied."""
    import shutil
    local_path = os.fspath(local_path)
    if not os.path.exists(local_path):
        raise FileNotFoundError(f"log_artifact: no file {local_path}")
    rel = check_relative_path(os.path.basename(os.path.normpath(local_path)) if artifact_path is None
                              else artifact_path)
    if os.path.isdir(local_path):
        pairs = []
        for d, _, files in os.walk(local_path):
            for f in sorted(files):
                src = os.path.join(d, f)
                sub = os.path.relpath(src, local_path).replace(os.sep, "/")
                pairs.append((src, f"{rel}/{sub}"))
    else:
        pairs = [(local_path, rel)]
    root = run_artifact_root(artifact_root, run_id)
    os.makedirs(root, exist_ok=True)
    rows = []
    for src, dst_rel in pairs:
        dst = contained(root, dst_rel)
        if os.path.realpath(src) != dst:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
        rows.append((run_id, check_relative_path(dst_rel), os.path.getsize(dst), sha256_of(dst), now()))
    return rows
