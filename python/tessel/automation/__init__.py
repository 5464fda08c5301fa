"""ts.automation: the ML workflow as tasks and declared pipelines.

    from tessel import automation
    automation.tasks.train("digits.yaml")               # plain functions, JSON-able in and out
    p = automation.load("pipeline.yaml")                 # validated up front (ConfigError names the key)
    result = automation.run_local(p)                     # topological order, retries, tracked runs
    flow = automation.prefect.build_flow(p)              # a Prefect 3 flow (needs prefect>=3)

Command line: `tessel pipeline run pipeline.yaml --engine local|prefect`.
See docs/automation.md.
"""
from . import tasks
from .pipeline import Pipeline, PipelineResult, load, run_local, run_step
from .tasks import TASKS

__all__ = ["tasks", "TASKS", "Pipeline", "PipelineResult", "load", "run_local", "run_step", "prefect", "airflow"]


def __getattr__(name):
    # Lazy: Prefect and Airflow are optional and slow to import.
    if name in ("prefect", "airflow"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tessel.automation' has no attribute {name!r}")
