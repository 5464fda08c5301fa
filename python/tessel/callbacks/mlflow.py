"""MLflowLogger: record a model.fit run in MLflow (optional dependency:
`pip install mlflow-skinny` or `mlflow`).

    model.fit(x, y, epochs=5, callbacks=[ts.callbacks.MLflowLogger("digits", tracking_uri="file:///tmp/mlruns")])

It talks to MLflow through MlflowClient (no global active run is touched),
buffers metric points and sends them in batches (log_batch) at each epoch end.
"""
import os
import tempfile
import time

from ..training import Callback
from .tracker import _number

__all__ = ["MLflowLogger"]

_PARAM_MAX = 6000  # MLflow's limit on a parameter value's length
_BATCH_MAX = 1000  # MLflow's limit on metrics per log_batch call


def _client_module():
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ModuleNotFoundError as e:
        raise ImportError("ts.callbacks.MLflowLogger needs the mlflow package, which is not installed: "
                          "pip install mlflow-skinny (or mlflow)") from e
    return MlflowClient, Metric, Param, RunTag



class MLflowLogger(Callback):
    """Logs fit to an MLflow tracking server or store.

    experiment_name: created if missing. tracking_uri: e.g. "file:///path/mlruns",
        "sqlite:///mlflow.db", "http://127.0.0.1:5000"; None uses MLflow's own default
        ($MLFLOW_TRACKING_URI, else ./mlruns).
    run_name, tags, params: extra things to record. Parameters read from fit:
        optimizer and its hyper-parameters, lr, batch_size, epochs, samples, loss,
        model class and parameter count.
    log_every_n_steps: also log "step/loss" every n batches (None: epochs only).
    log_model: log the final weights as the artifact model/weights.safetensors.
    artifact_location: where a new experiment keeps its artifacts (MLflow's default
        for a database store is ./mlruns in the working directory).
    run_id is set once training starts; a run that raises ends as FAILED when
    the logger is used again or closed.
    """

    def __init__(self, experiment_name="default", tracking_uri=None, run_name=None, tags=None, params=None,
                 log_every_n_steps=None, log_model=False, artifact_location=None):
        super().__init__()
        self._mlflow = _client_module()  # fails here, at construction, when mlflow is missing
        if not isinstance(experiment_name, str) or not experiment_name:
            raise ValueError(f"MLflowLogger: experiment_name must be a non-empty string, got {experiment_name!r}")
        if log_every_n_steps is not None and (isinstance(log_every_n_steps, bool) or
                                              not isinstance(log_every_n_steps, int) or log_every_n_steps < 1):
            raise ValueError(f"MLflowLogger: log_every_n_steps must be a positive int or None, got "
                             f"{log_every_n_steps!r}")
        self.experiment_name = experiment_name
        self.tracking_uri = tracking_uri
        self.run_name = run_name
        self.extra_tags = dict(tags or {})
        self.extra_params = dict(params or {})
        self.log_every_n_steps = log_every_n_steps
        self.log_model = log_model
        self.artifact_location = artifact_location
        self.client = None
        self.run_id = None
        self.experiment_id = None
        self._open = False
        self._buffer = []

    def _connect(self):
        if self.client is None:
            MlflowClient = self._mlflow[0]
            self.client = MlflowClient(tracking_uri=self.tracking_uri)
        exp = self.client.get_experiment_by_name(self.experiment_name)
        self.experiment_id = exp.experiment_id if exp is not None else \
            self.client.create_experiment(self.experiment_name, artifact_location=self.artifact_location)

    def _params(self):
        trainer, model = self.trainer, self.model
        p = {}
        opt = getattr(trainer, "optimizer", None)
        if opt is not None:
            p["optimizer"] = type(opt).__name__
            group = opt.param_groups[0] if getattr(opt, "param_groups", None) else {}
            for k, v in group.items():
                if k != "params" and (isinstance(v, (int, float, str, bool)) or v is None or isinstance(v, tuple)):
                    p[f"optimizer.{k}"] = v
            if "lr" in group:
                p["lr"] = group["lr"]
        hp = getattr(getattr(trainer, "history", None), "params", None) or {}
        for k in ("batch_size", "epochs", "samples", "steps"):
            if hp.get(k) is not None:
                p[k] = hp[k]
        loss = getattr(trainer, "loss_fn", None)
        if loss is not None:
            p["loss"] = getattr(loss, "__name__", type(loss).__name__)
        if model is not None:
            p["model"] = type(model).__name__
            p["num_parameters"] = sum(t.numel() for t in model.parameters())
        p.update(self.extra_params)
        return p

    def _send(self):
        if not self._buffer:
            return
        Metric = self._mlflow[1]
        ms = [Metric(k, v, ts_ms, step) for k, v, ts_ms, step in self._buffer]
        for i in range(0, len(ms), _BATCH_MAX):
            self.client.log_batch(self.run_id, metrics=ms[i:i + _BATCH_MAX])
        self._buffer = []

    def on_train_begin(self, logs=None):
        _, _, Param, RunTag = self._mlflow
        if self._open:  # the previous fit with this logger raised before it ended
            self.close("FAILED")
        self._connect()
        tags = {"source": "ts.callbacks.MLflowLogger", **{str(k): str(v) for k, v in self.extra_tags.items()}}
        run = self.client.create_run(self.experiment_id, run_name=self.run_name, tags=tags)
        self.run_id = run.info.run_id
        self._open = True
        params = [Param(str(k), str(v)[:_PARAM_MAX]) for k, v in self._params().items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[i:i + 100])
        self._step = 0
        self._buffer = []

    def on_batch_end(self, batch, logs=None):
        step = self._step
        self._step += 1
        if self.log_every_n_steps and step % self.log_every_n_steps == 0 and logs and "loss" in logs:
            x = _number(logs["loss"])
            if x is not None:
                self._buffer.append(("step/loss", x, int(time.time() * 1000), step))

    def on_epoch_end(self, epoch, logs=None):
        now = int(time.time() * 1000)
        for k, v in (logs or {}).items():
            x = _number(v)
            if x is not None:
                self._buffer.append((str(k), x, now, int(epoch)))
        self._send()

    def on_train_end(self, logs=None):
        self._send()
        if self.log_model and self.model is not None:
            from .. import save
            with tempfile.TemporaryDirectory(prefix="tessel-mlflow-") as tmp:
                path = os.path.join(tmp, "weights.safetensors")
                save(dict(self.model.state_dict()), path)
                self.client.log_artifact(self.run_id, path, artifact_path="model")
        self.close("FINISHED")

    def close(self, status="FINISHED"):
        """Ends the open run (if any) with `status` ("FINISHED", "FAILED", "KILLED")."""
        if not self._open:
            return
        try:
            self._send()
        finally:
            self.client.set_terminated(self.run_id, status)
            self._open = False
