"""The model registry: models, versions, aliases and lineage.

A version's files live in REGISTRY/NAME/VERSION/ (model.onnx, weights.safetensors,
config.json, signature.json), the model repository layout that
`tessel serve --model-repository REGISTRY` loads directly.
"""
import json
import math
import os
import shutil
import tempfile
import time

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy import exc as sa_exc

from . import schema as S
from ._common import check_alias, check_model_name  # noqa: F401  (importable from here too)
from .errors import NotFoundError, StoreError

LINEAGE_KINDS = ("data", "run", "version", "deployment")

# ONNX element types (as ts.onnx.ValueInfo.type spells them) -> OIP datatypes.
_OIP = {"float": "FP32", "double": "FP64", "float16": "FP16", "bfloat16": "BF16", "int8": "INT8", "int16": "INT16",
        "int32": "INT32", "int64": "INT64", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32",
        "uint64": "UINT64", "bool": "BOOL", "string": "BYTES"}


def onnx_signature(path):
    """{"inputs": [...], "outputs": [...]} of an ONNX file, each {name, datatype
    (OIP), shape (-1 for a symbolic or unknown dim)}."""
    from .. import onnx as tonnx

    model = tonnx.load(os.fspath(path))

    def one(v):
        elem = v.type[len("tensor("):-1] if v.type.startswith("tensor(") else v.type
        shape = None if v.shape is None else [d if isinstance(d, int) else -1 for d in v.shape]
        return {"name": v.name, "datatype": _OIP.get(elem, elem.upper()), "shape": shape}

    return {"inputs": [one(v) for v in model.inputs], "outputs": [one(v) for v in model.outputs]}


def _load_config(config):
    if config is None or isinstance(config, dict):
        return config
    path = os.fspath(config)
    from ..config import load_file
    return load_file(path)


class RegistryMixin:
    """Mixed into Store (needs self._db, self.registry_root, self.artifact_root)."""

    # ----- versions --------------------------------------------------------------------------------

    def register_model(self, name, onnx=None, weights=None, config=None, signature=None, metrics=None, run_id=None,
                       description=None, data=None, alias=None):
        """Adds a version of model `name` (created if new) and returns it (as
        get_model_version does). Files are copied into REGISTRY/NAME/VERSION/:
        onnx -> model.onnx, weights -> weights.safetensors, config (a dict or a
        JSON/YAML file) -> config.json, the signature (read from the ONNX file
        when not given) -> signature.json. run_id links the version to the run
        that produced it; data (URIs or paths) records where that run's data came from."""
        check_model_name(name)
        if onnx is None and weights is None:
            raise ValueError("register_model: give the ONNX file (onnx=) and/or the weights (weights=)")
        for what, p in (("onnx", onnx), ("weights", weights)):
            if p is not None and not os.path.isfile(os.fspath(p)):
                raise FileNotFoundError(f"register_model: {what} file {os.fspath(p)} does not exist")
        if alias is not None:
            check_alias(alias)
        if signature is None and onnx is not None:
            signature = onnx_signature(onnx)
        config = _load_config(config)
        metrics = {str(k): float(v) for k, v in (metrics or {}).items()}
        if run_id is not None:
            run_id = self.resolve_run(run_id)

        # Stage the files first, then move the folder into place in one rename,
        # so that a server polling the registry never sees half a version.
        stage_root = os.path.join(self.artifact_root, ".staging")
        os.makedirs(stage_root, exist_ok=True)
        stage = tempfile.mkdtemp(prefix=f"{name}-", dir=stage_root)
        try:
            files = []
            if onnx is not None:
                shutil.copyfile(onnx, os.path.join(stage, "model.onnx"))
                files.append("model.onnx")
                if os.path.exists(os.fspath(onnx) + ".data"):  # external weights next to the graph
                    shutil.copyfile(os.fspath(onnx) + ".data", os.path.join(stage, "model.onnx.data"))
                    files.append("model.onnx.data")
            if weights is not None:
                shutil.copyfile(weights, os.path.join(stage, "weights.safetensors"))
                files.append("weights.safetensors")
            for fname, obj in (("config.json", config), ("signature.json", signature)):
                if obj is not None:
                    with open(os.path.join(stage, fname), "w") as f:
                        json.dump(obj, f, indent=2, default=str)
                    files.append(fname)
            version, row_id = self._add_version(name, run_id, files, signature, metrics, config, description)
            rel = f"{name}/{version}"
            dest = os.path.join(self.registry_root, name, str(version))
            try:
                if os.path.exists(dest):
                    raise StoreError(f"registry folder {dest} already exists but the store has no such version; "
                                     f"move it away")
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                os.rename(stage, dest)
            except BaseException:
                with self._db.tx(write=True) as c:
                    c.execute(delete(S.ModelVersion).where(S.ModelVersion.id == row_id))
                raise
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        edges = []
        if run_id is not None:
            edges.append(("run", run_id, "version", rel, None))
            for d in data or ():
                edges.append(("data", str(d), "run", run_id, None))
        else:
            for d in data or ():
                edges.append(("data", str(d), "version", rel, None))
        if edges:
            self._add_lineage(edges)
        if alias is not None:
            self.set_alias(name, alias, version)
        return self.get_model_version(name, version)

    def _add_version(self, name, run_id, files, signature, metrics, config, description):
        for _attempt in range(5):
            try:
                with self._db.tx(write=True) as c:
                    mid = c.execute(select(S.RegisteredModel.id).where(S.RegisteredModel.name == name)).scalar()
                    if mid is None:
                        mid = c.execute(insert(S.RegisteredModel).values(name=name, created_at=time.time())) \
                            .inserted_primary_key[0]
                    version = (c.execute(select(func.max(S.ModelVersion.version))
                                         .where(S.ModelVersion.model_id == mid)).scalar() or 0) + 1
                    row = c.execute(insert(S.ModelVersion).values(
                        model_id=mid, version=version, run_id=run_id, path=f"{name}/{version}", files=json.dumps(files),
                        signature=None if signature is None else json.dumps(signature),
                        metrics=json.dumps(metrics), config=None if config is None else json.dumps(config, default=str),
                        description=description, created_at=time.time()))
                    return version, row.inserted_primary_key[0]
            except sa_exc.IntegrityError:
                continue  # another writer took this version number (PostgreSQL): take the next
        raise StoreError(f"could not allocate a version of model {name!r}: too many concurrent registrations")

    def _model_id(self, conn, name):
        mid = conn.execute(select(S.RegisteredModel.id).where(S.RegisteredModel.name == name)).scalar()
        if mid is None:
            raise NotFoundError(f"no model named {name!r} in the registry of {self._db.describe()}")
        return mid

    def _version_number(self, conn, mid, name, version):
        """An int from a version number, a numeric string, an alias or None (latest)."""
        if version is None or version == "latest":
            v = conn.execute(select(func.max(S.ModelVersion.version)).where(S.ModelVersion.model_id == mid)).scalar()
            if v is None:
                raise NotFoundError(f"model {name!r} has no versions")
            return v
        if isinstance(version, bool):
            raise TypeError(f"version must be an int, a numeric string or an alias, got {version!r}")
        if isinstance(version, int) or (isinstance(version, str) and version.isdigit()):
            v = int(version)
            if conn.execute(select(S.ModelVersion.id).where(S.ModelVersion.model_id == mid,
                                                            S.ModelVersion.version == v)).scalar() is None:
                raise NotFoundError(f"model {name!r} has no version {v}")
            return v
        if isinstance(version, str):
            v = conn.execute(select(S.ModelAlias.version).where(S.ModelAlias.model_id == mid,
                                                                S.ModelAlias.alias == version)).scalar()
            if v is None:
                raise NotFoundError(f"model {name!r} has no alias {version!r}")
            return v
        raise TypeError(f"version must be an int, a numeric string or an alias, got {type(version).__name__}")

    def _version_dict(self, name, row, aliases):
        d = {"name": name, "version": row["version"], "run_id": row["run_id"], "path": row["path"],
             "folder": os.path.join(self.registry_root, *row["path"].split("/")),
             "files": json.loads(row["files"]), "description": row["description"], "created_at": row["created_at"],
             "signature": None if row["signature"] is None else json.loads(row["signature"]),
             "metrics": json.loads(row["metrics"] or "{}"),
             "config": None if row["config"] is None else json.loads(row["config"]),
             "aliases": sorted(a for a, v in aliases.items() if v == row["version"])}
        d["metrics"] = {k: (math.nan if v is None else v) for k, v in d["metrics"].items()}
        return d

    def get_model_version(self, name, version=None):
        """One version as a dict (name, version, run_id, folder, files, signature,
        metrics, config, aliases, ...). version: a number, an alias, or None for the latest."""
        with self._db.tx() as c:
            mid = self._model_id(c, name)
            v = self._version_number(c, mid, name, version)
            row = c.execute(select(S.ModelVersion).where(S.ModelVersion.model_id == mid,
                                                         S.ModelVersion.version == v)).mappings().one()
            aliases = dict(c.execute(select(S.ModelAlias.alias, S.ModelAlias.version)
                                     .where(S.ModelAlias.model_id == mid)).all())
        return self._version_dict(name, row, aliases)

    def list_versions(self, name):
        with self._db.tx() as c:
            mid = self._model_id(c, name)
            rows = c.execute(select(S.ModelVersion).where(S.ModelVersion.model_id == mid)
                             .order_by(S.ModelVersion.version)).mappings().all()
            aliases = dict(c.execute(select(S.ModelAlias.alias, S.ModelAlias.version)
                                     .where(S.ModelAlias.model_id == mid)).all())
        return [self._version_dict(name, r, aliases) for r in rows]

    def list_models(self):
        """[{name, description, created_at, versions, latest_version, aliases}] by name."""
        with self._db.tx() as c:
            models = c.execute(select(S.RegisteredModel).order_by(S.RegisteredModel.name)).mappings().all()
            stats = {m: (n, v) for m, n, v in c.execute(
                select(S.ModelVersion.model_id, func.count(), func.max(S.ModelVersion.version))
                .group_by(S.ModelVersion.model_id)).all()}
            aliases = {}
            for m, a, v in c.execute(select(S.ModelAlias.model_id, S.ModelAlias.alias, S.ModelAlias.version)):
                aliases.setdefault(m, {})[a] = v
        return [{"name": m["name"], "description": m["description"], "created_at": m["created_at"],
                 "versions": stats.get(m["id"], (0, None))[0], "latest_version": stats.get(m["id"], (0, None))[1],
                 "aliases": dict(sorted(aliases.get(m["id"], {}).items()))} for m in models]

    # ----- aliases ----------------------------------------------------------------------------------

    def get_aliases(self, name):
        with self._db.tx() as c:
            mid = self._model_id(c, name)
            return dict(c.execute(select(S.ModelAlias.alias, S.ModelAlias.version)
                                  .where(S.ModelAlias.model_id == mid).order_by(S.ModelAlias.alias)).all())

    def set_alias(self, name, alias, version):
        """Points `alias` (e.g. "champion", "staging") at a version (promote);
        the previous target is kept for rollback_alias. Returns the version number."""
        check_alias(alias)
        with self._db.tx(write=True) as c:
            mid = self._model_id(c, name)
            v = self._version_number(c, mid, name, version)
            self._write_alias(c, mid, alias, v, "set")
        return v

    promote = set_alias

    def delete_alias(self, name, alias):
        check_alias(alias)
        with self._db.tx(write=True) as c:
            mid = self._model_id(c, name)
            if self._alias_target(c, mid, alias) is None:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}")
            self._write_alias(c, mid, alias, None, "delete")

    def rollback_alias(self, name, alias):
        """Moves `alias` back to where it pointed before its last change (a
        stack: rolling back twice goes back two promotions). Returns the
        version it now names, or None when that earlier state was 'no alias'."""
        check_alias(alias)
        with self._db.tx(write=True) as c:
            mid = self._model_id(c, name)
            stack = self._alias_stack(c, mid, alias)
            if len(stack) < 2:
                raise ValueError(f"alias {alias!r} of model {name!r} has no earlier version to roll back to")
            target = stack[-2]
            self._write_alias(c, mid, alias, target, "rollback")
        return target

    def alias_history(self, name, alias):
        """[{action, version, at}] oldest first."""
        with self._db.tx() as c:
            mid = self._model_id(c, name)
            return [dict(r) for r in c.execute(
                select(S.AliasEvent.action, S.AliasEvent.version, S.AliasEvent.at)
                .where(S.AliasEvent.model_id == mid, S.AliasEvent.alias == alias).order_by(S.AliasEvent.id)).mappings()]

    @staticmethod
    def _alias_target(conn, mid, alias):
        return conn.execute(select(S.ModelAlias.version).where(S.ModelAlias.model_id == mid,
                                                               S.ModelAlias.alias == alias)).scalar()

    @staticmethod
    def _alias_stack(conn, mid, alias):
        stack = []
        for action, version in conn.execute(select(S.AliasEvent.action, S.AliasEvent.version).where(
                S.AliasEvent.model_id == mid, S.AliasEvent.alias == alias).order_by(S.AliasEvent.id)):
            if action == "rollback":
                stack.pop()
            else:
                stack.append(version)
        return stack

    def _write_alias(self, conn, mid, alias, version, action):
        now = time.time()
        conn.execute(delete(S.ModelAlias).where(S.ModelAlias.model_id == mid, S.ModelAlias.alias == alias))
        if version is not None:
            conn.execute(insert(S.ModelAlias).values(model_id=mid, alias=alias, version=version, updated_at=now))
        conn.execute(insert(S.AliasEvent).values(model_id=mid, alias=alias, action=action, version=version, at=now))

    # ----- lineage ----------------------------------------------------------------------------------

    def _add_lineage(self, edges):
        now = time.time()
        rows = []
        for sk, sid, tk, tid, info in edges:
            for k in (sk, tk):
                if k not in LINEAGE_KINDS:
                    raise ValueError(f"lineage kind must be one of {LINEAGE_KINDS}, got {k!r}")
            rows.append({"source_kind": sk, "source_id": sid, "target_kind": tk, "target_id": tid,
                         "info": None if info is None else json.dumps(info, default=str), "created_at": now})
        with self._db.tx(write=True) as c:
            c.execute(insert(S.Lineage), rows)

    def log_data(self, run_id, uri, info=None):
        """Records that run `run_id` read data from `uri` (a path or URL; info: e.g. {"sha256": ...})."""
        run_id = self.resolve_run(run_id)
        self._add_lineage([("data", str(uri), "run", run_id, info)])

    def record_deployment(self, name, version, target, info=None):
        """Records that a version (number or alias) was deployed to `target` (a
        server URL or deployment name). Returns the version number."""
        with self._db.tx() as c:
            v = self._version_number(c, self._model_id(c, name), name, version)
        self._add_lineage([("version", f"{name}/{v}", "deployment", str(target), info)])
        return v

    def lineage(self, name, version=None):
        """{"version": "NAME/V", "run": run id or None, "data": [...], "deployments": [...]}:
        data -> run -> version -> deployment."""
        mv = self.get_model_version(name, version)
        key = mv["path"]
        L = S.Lineage

        def info(s):
            return None if s is None else json.loads(s)

        with self._db.tx() as c:
            deployments = [{"target": t, "info": info(i), "at": a} for t, i, a in c.execute(
                select(L.target_id, L.info, L.created_at).where(L.source_kind == "version", L.source_id == key,
                                                                 L.target_kind == "deployment").order_by(L.id))]
            sources = [("version", key)] + ([("run", mv["run_id"])] if mv["run_id"] else [])
            data = []
            for kind, ident in sources:
                data += [{"uri": s, "info": info(i)} for s, i in c.execute(
                    select(L.source_id, L.info).where(L.source_kind == "data", L.target_kind == kind,
                                                      L.target_id == ident).order_by(L.id))]
        return {"version": key, "run": mv["run_id"], "data": data, "deployments": deployments}

    def update_version(self, name, version, description=None, metrics=None):
        """Sets a version's description and/or merges metrics into it."""
        with self._db.tx(write=True) as c:
            mid = self._model_id(c, name)
            v = self._version_number(c, mid, name, version)
            where = (S.ModelVersion.model_id == mid, S.ModelVersion.version == v)
            values = {}
            if description is not None:
                values["description"] = description
            if metrics:
                old = json.loads(c.execute(select(S.ModelVersion.metrics).where(*where)).scalar() or "{}")
                old.update({str(k): float(v_) for k, v_ in metrics.items()})
                values["metrics"] = json.dumps(old)
            if values:
                c.execute(update(S.ModelVersion).where(*where).values(**values))
