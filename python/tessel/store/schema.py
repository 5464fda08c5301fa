"""The tables of the tracking store and model registry (SQLAlchemy 2.x).

Times are float seconds since the epoch (what time.time() gives): comparable
across databases and cheap to write. Bump SCHEMA_VERSION whenever a table
changes (it lives in _ddl.py, next to the SQLite DDL generated from these
tables: regenerate that with `python -m tessel.store._ddl --write`); a store
written by another version is refused with a clear error instead of being
read wrongly.
"""
from sqlalchemy import (BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ._ddl import SCHEMA_TABLE, SCHEMA_VERSION  # noqa: F401  (one place for both)

# SQLite only autoincrements an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
_Id = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class SchemaInfo(Base):
    __tablename__ = SCHEMA_TABLE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)


class Experiment(Base):
    __tablename__ = "experiments"
    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(256), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # RUNNING FINISHED FAILED KILLED
    start_time: Mapped[float] = mapped_column(Float, nullable=False)
    end_time: Mapped[float] = mapped_column(Float, nullable=True)
    __table_args__ = (Index("ix_runs_experiment_start", "experiment_id", "start_time"),)


class Param(Base):
    __tablename__ = "params"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class Tag(Base):
    __tablename__ = "tags"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class Metric(Base):
    """One point of a series. Epoch-level series use Keras' names ("loss",
    "val_accuracy") with step = epoch; per-step series are "step/<name>" with
    step = the global optimizer step; system metrics are "system/<name>"."""
    __tablename__ = "metrics"
    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(256), nullable=False)
    step: Mapped[int] = mapped_column(BigInteger, nullable=False)
    value: Mapped[float] = mapped_column(Float, nullable=True)  # NULL: NaN (SQLite cannot store NaN)
    timestamp: Mapped[float] = mapped_column(Float, nullable=False)
    # (run, key, step) answers "series of a run" and step-range queries from the index alone.
    __table_args__ = (Index("ix_metrics_run_key_step", "run_id", "key", "step"),)


class Artifact(Base):
    __tablename__ = "artifacts"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)  # relative, '/'-separated
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)


class RegisteredModel(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    path: Mapped[str] = mapped_column(String(1024), nullable=False)  # NAME/VERSION under the registry root
    files: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of file names in the folder
    signature: Mapped[str] = mapped_column(Text, nullable=True)  # JSON {"inputs": [...], "outputs": [...]}
    metrics: Mapped[str] = mapped_column(Text, nullable=True)  # JSON {name: value}
    config: Mapped[str] = mapped_column(Text, nullable=True)  # JSON training config
    description: Mapped[str] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_version"),)


class ModelAlias(Base):
    __tablename__ = "model_aliases"
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[float] = mapped_column(Float, nullable=False)


class AliasEvent(Base):
    """Every move of an alias, replayed as a stack to roll back: action "set"
    pushes `version`, "delete" pushes None (no alias), "rollback" pops."""
    __tablename__ = "alias_events"
    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), nullable=False)
    alias: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=True)
    at: Mapped[float] = mapped_column(Float, nullable=False)
    __table_args__ = (Index("ix_alias_events_model_alias", "model_id", "alias", "id"),)


class Lineage(Base):
    """An edge data -> run -> model version -> deployment. Kinds: "data" (id: a
    URI or path), "run" (run id), "version" ("NAME/VERSION"), "deployment" (an
    endpoint or name); info is JSON (a data digest, a server URL...)."""
    __tablename__ = "lineage"
    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    source_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    source_id: Mapped[str] = mapped_column(String(1024), nullable=False)
    target_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    target_id: Mapped[str] = mapped_column(String(1024), nullable=False)
    info: Mapped[str] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    __table_args__ = (Index("ix_lineage_source", "source_kind", "source_id"),
                      Index("ix_lineage_target", "target_kind", "target_id"))
