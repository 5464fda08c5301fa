"""TensorBoard event files, written without TensorFlow or tensorboard.

    model.fit(x, y, epochs=5, validation_split=0.1,
              callbacks=[ts.callbacks.TensorBoard("logs/run1", histogram_freq=1)])
    # tensorboard --logdir logs

    with ts.callbacks.SummaryWriter("logs/manual") as w:     # torch.utils.tensorboard's names
        w.add_scalar("loss", 0.5, global_step=1)
        w.add_histogram("weights", layer.weight, global_step=1)
        w.add_hparams({"lr": 0.1, "opt": "SGD"}, {"accuracy": 0.9})

An event file is a sequence of TFRecords (length, masked CRC-32C of the
length, data, masked CRC-32C of the data); each record is a serialized
tensorflow.Event protobuf. The few message fields used here are encoded by
hand below (field numbers from tensorboard's event.proto, summary.proto,
tensor.proto and plugins/hparams/{api,plugin_data}.proto).
"""
import os
import socket
import struct
import threading
import time

from ..training import Callback
from .tracker import _number

__all__ = ["SummaryWriter", "TensorBoard"]

# ----- CRC-32C (Castagnoli), as TFRecord frames it ---------------------------------------------------------


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data):
    """One TFRecord: the framing TensorBoard's reader checks."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


# ----- protobuf wire format (only what the messages below need) --------------------------------------------

def _varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint(field << 3 | wire)


def _int(field, n):
    return _key(field, 0) + _varint(int(n)) if n else b""


def _double(field, x):
    return _key(field, 1) + struct.pack("<d", float(x))


def _float(field, x):
    return _key(field, 5) + struct.pack("<f", float(x))


def _bytes(field, data):
    return _key(field, 2) + _varint(len(data)) + data


def _str(field, s):
    return _bytes(field, s.encode("utf-8")) if s else b""


def _packed_doubles(field, xs):
    return _bytes(field, struct.pack(f"<{len(xs)}d", *xs)) if xs else b""


def _event(wall_time, step=None, summary=None, file_version=None):
    out = _double(1, wall_time)
    if step:
        out += _int(2, step)
    if file_version is not None:
        out += _str(3, file_version)
    if summary is not None:
        out += _bytes(5, summary)
    return out


def _summary_value(tag, simple_value=None, histo=None, metadata=None, tensor=None):
    out = _str(1, tag)
    if simple_value is not None:
        out += _float(2, simple_value)
    if histo is not None:
        out += _bytes(5, histo)
    if tensor is not None:
        out += _bytes(8, tensor)
    if metadata is not None:
        out += _bytes(9, metadata)
    return _bytes(1, out)  # Summary.value (repeated)


def _histogram_proto(lo, hi, num, total, total_sq, limits, counts):
    return (_double(1, lo) + _double(2, hi) + _double(3, num) + _double(4, total) + _double(5, total_sq)
            + _packed_doubles(6, limits) + _packed_doubles(7, counts))


# A float tensor of shape [0]: the hparams plugin's summaries carry only metadata.
_NULL_TENSOR = _int(1, 1) + _bytes(2, _bytes(2, b""))
_HPARAMS_PLUGIN = "hparams"
_STATUS = {"unknown": 0, "success": 1, "failure": 2, "running": 3}


def _pb_value(v):
    """google.protobuf.Value of a number, string or bool."""
    if isinstance(v, bool):
        return _key(4, 0) + _varint(int(v))
    if isinstance(v, (int, float)):
        return _double(2, v)
    return _bytes(3, str(v).encode("utf-8"))


def _hparams_metadata(plugin_data):
    content = _bytes(1, _str(1, _HPARAMS_PLUGIN) + _bytes(2, plugin_data))  # SummaryMetadata.plugin_data
    return content


def _hparam_value(v):
    if isinstance(v, bool) or isinstance(v, (int, float, str)):
        return v
    if v is None:
        return "None"
    try:
        return float(v.item())  # 0-d tensors, NumPy scalars
    except (AttributeError, TypeError, ValueError, RuntimeError):
        return str(v)


def _hparam_type(v):
    if isinstance(v, bool):
        return 2
    if isinstance(v, (int, float)):
        return 3
    return 1


def _histogram_of(values, bins):
    """(min, max, count, sum, sum of squares, right bucket edges, counts) of a tensor or a list of numbers,
    over `bins` equal-width buckets; NaN and infinite values are left out."""
    from .. import _C
    import tessel as ts
    if isinstance(values, _C.Tensor):
        t = values.detach().reshape(-1).to(ts.float64)
    else:
        t = ts.tensor([float(v) for v in values], dtype=ts.float64).reshape(-1)
    t = t[ts.isfinite(t)] if t.numel() else t
    n = t.numel()
    if n == 0:
        return 0.0, 0.0, 0, 0.0, 0.0, [], []
    lo, hi = t.min().item(), t.max().item()
    total, total_sq = t.sum().item(), (t * t).sum().item()
    if lo == hi:
        return lo, hi, n, total, total_sq, [hi], [float(n)]
    width = (hi - lo) / bins
    idx = ((t - lo) / width).floor().clamp(0, bins - 1).to(ts.int64)
    counts = ts.bincount(idx, minlength=bins).tolist()
    limits = [lo + width * (i + 1) for i in range(bins)]
    limits[-1] = hi
    return lo, hi, n, total, total_sq, limits, [float(c) for c in counts]



class SummaryWriter:
    """Writes one event file in `log_dir` (created if needed), with
    torch.utils.tensorboard.SummaryWriter's method names. Records are buffered
    and written every `flush_secs`, at flush() and at close()."""

    _counter = 0
    _lock = threading.Lock()

    def __init__(self, log_dir="runs", flush_secs=10, filename_suffix=""):
        self.log_dir = os.fspath(log_dir)
        os.makedirs(self.log_dir, exist_ok=True)
        with SummaryWriter._lock:
            SummaryWriter._counter += 1
            k = SummaryWriter._counter
        # tensorboard finds event files by "tfevents" in the name and orders them by the timestamp in it.
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{k}{filename_suffix}"
        self.path = os.path.join(self.log_dir, name)
        self._file = open(self.path, "wb")
        self.flush_secs = flush_secs
        self._pending = []
        self._last_flush = time.monotonic()
        self.closed = False
        self._write(_event(time.time(), file_version="brain.Event:2"))
        self.flush()

    def _write(self, event):
        if self.closed:
            raise ValueError(f"SummaryWriter: '{self.path}' is closed")
        self._pending.append(tfrecord(event))
        if time.monotonic() - self._last_flush >= self.flush_secs:
            self.flush()

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None):
        value = _number(scalar_value)
        if value is None:
            raise TypeError(f"SummaryWriter.add_scalar: {tag!r} needs a number, got {type(scalar_value).__name__}")
        self._write(_event(walltime or time.time(), global_step, _summary_value(tag, simple_value=value)))

    def add_scalars_dict(self, values, global_step=None, walltime=None):
        """Several scalars in one event: {tag: number}."""
        body = b""
        for t, v in values.items():
            x = _number(v)
            if x is None:
                raise TypeError(f"SummaryWriter: {t!r} needs a number, got {type(v).__name__}")
            body += _summary_value(t, simple_value=x)
        self._write(_event(walltime or time.time(), global_step, body))

    def add_histogram(self, tag, values, global_step=None, bins=30, walltime=None):
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ValueError(f"SummaryWriter.add_histogram: bins must be a positive int, got {bins!r}")
        histo = _histogram_proto(*_histogram_of(values, bins))
        self._write(_event(walltime or time.time(), global_step, _summary_value(tag, histo=histo)))

    # ----- hparams (TensorBoard's HParams dashboard) ----------------------------------------------------

    def _hparams_event(self, tag, plugin_data):
        data = _int(1, 0) + plugin_data  # HParamsPluginData.version = 0
        self._write(_event(time.time(), None, _summary_value(tag, metadata=_hparams_metadata(data),
                                                             tensor=_NULL_TENSOR)))

    def add_hparams_experiment(self, hparams, metric_tags):
        """The experiment: the hparams' names and types, and the metrics (tag, or (group, tag)) to show."""
        infos = b""
        for name, v in hparams.items():
            infos += _bytes(4, _str(1, str(name)) + _int(4, _hparam_type(_hparam_value(v))))
        for m in metric_tags:
            group, tag = m if isinstance(m, tuple) else ("", m)
            kind = 2 if group == "validation" else 1 if group == "train" else 0
            infos += _bytes(5, _bytes(1, _str(1, group) + _str(2, tag)) + _int(5, kind))
        self._hparams_event("_hparams_/experiment", _bytes(2, _double(3, time.time()) + infos))

    def add_hparams_start(self, hparams, group_name=""):
        """A session's hyper-parameter values (the start of a run)."""
        entries = b""
        for name, v in hparams.items():
            entries += _bytes(1, _str(1, str(name)) + _bytes(2, _pb_value(_hparam_value(v))))
        body = entries + _str(4, group_name) + _double(5, time.time())
        self._hparams_event("_hparams_/session_start_info", _bytes(3, body))

    def add_hparams_end(self, status="success"):
        if status not in _STATUS:
            raise ValueError(f"SummaryWriter.add_hparams_end: status must be one of {sorted(_STATUS)}, got {status!r}")
        self._hparams_event("_hparams_/session_end_info", _bytes(4, _int(1, _STATUS[status]) + _double(2, time.time())))

    def add_hparams(self, hparam_dict, metric_dict=None, global_step=None):
        """Hyper-parameters and final metrics of a finished run, in one go."""
        if not isinstance(hparam_dict, dict) or (metric_dict is not None and not isinstance(metric_dict, dict)):
            raise TypeError("SummaryWriter.add_hparams: hparam_dict and metric_dict must be dicts")
        metric_dict = metric_dict or {}
        self.add_hparams_experiment(hparam_dict, list(metric_dict))
        self.add_hparams_start(hparam_dict)
        for k, v in metric_dict.items():
            self.add_scalar(k, v, global_step)
        self.add_hparams_end("success")

    def flush(self):
        if self._pending and not self._file.closed:
            self._file.write(b"".join(self._pending))
            self._file.flush()
            self._pending = []
        self._last_flush = time.monotonic()

    def close(self):
        if self.closed:
            return
        self.flush()
        self._file.close()
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass


class TensorBoard(Callback):
    """Writes what fit does as TensorBoard event files, laid out as Keras does:
    log_dir/train and log_dir/validation hold "epoch_<metric>" scalars per epoch
    (validation metrics without their "val_" prefix), and "batch_<metric>"
    per `update_freq` batches; log_dir itself holds the hyper-parameters.

    histogram_freq: every that many epochs, a histogram of each parameter
        (and "<name>/grad" of its gradient when it has one) in train/; 0: none.
    update_freq: "epoch", "batch" (every batch) or an int n (every n batches).
    hparams: extra hyper-parameters (a dict) for the HParams dashboard, on top of
        the ones read from fit (optimizer, lr, batch_size, epochs, model); False: none.
    histogram_bins: buckets per histogram.
    write_steps_per_second: also log "epoch_steps_per_second".
    """

    def __init__(self, log_dir="logs", histogram_freq=0, update_freq="epoch", hparams=None, histogram_bins=30,
                 write_steps_per_second=False):
        super().__init__()
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be an int >= 0, got {histogram_freq!r}")
        if update_freq not in ("epoch", "batch") and (isinstance(update_freq, bool) or
                                                     not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive int, got "
                             f"{update_freq!r}")
        if hparams is not None and hparams is not False and not isinstance(hparams, dict):
            raise TypeError(f"TensorBoard: hparams must be a dict, False or None, got {type(hparams).__name__}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.hparams = hparams
        self.histogram_bins = histogram_bins
        self.write_steps_per_second = write_steps_per_second
        self._writers = {}
        self._tags = set()
        self._step = 0

    def writer(self, name):
        """The SummaryWriter of log_dir/<name> ("train", "validation"; "" for log_dir itself)."""
        w = self._writers.get(name)
        if w is None or w.closed:
            w = self._writers[name] = SummaryWriter(os.path.join(self.log_dir, name) if name else self.log_dir)
        return w

    def _collected_hparams(self):
        hp = {}
        trainer = self.trainer
        opt = getattr(trainer, "optimizer", None)
        if opt is not None:
            hp["optimizer"] = type(opt).__name__
            groups = getattr(opt, "param_groups", None)
            if groups and "lr" in groups[0]:
                hp["lr"] = groups[0]["lr"]
        params = getattr(getattr(trainer, "history", None), "params", None) or {}
        for k in ("batch_size", "epochs"):
            if params.get(k) is not None:
                hp[k] = params[k]
        if self.model is not None:
            hp["model"] = type(self.model).__name__
        hp.update(self.hparams or {})
        return {k: _hparam_value(v) for k, v in hp.items()}

    def on_train_begin(self, logs=None):
        self._step = 0
        self._tags = set()
        self._epoch_start = time.perf_counter()
        self._epoch_steps = 0
        self._hp = None
        if self.hparams is not False:
            self._hp = self._collected_hparams()
            self.writer("").add_hparams_start(self._hp)
            self.writer("").flush()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_steps = 0

    def on_batch_end(self, batch, logs=None):
        step = self._step
        self._step += 1
        self._epoch_steps += 1
        if self.update_freq != "epoch" and step % self.update_freq == 0 and logs:
            values = {f"batch_{k}": x for k, v in logs.items()
                      if k not in ("batch", "size") and (x := _number(v)) is not None}
            if values:
                self.writer("train").add_scalars_dict(values, step)

    def on_epoch_end(self, epoch, logs=None):
        groups = {"train": {}, "validation": {}}
        for k, v in (logs or {}).items():
            x = _number(v)
            if x is None:
                continue
            if k.startswith("val_"):
                groups["validation"]["epoch_" + k[4:]] = x
            else:
                groups["train"]["epoch_" + k] = x
        if self.write_steps_per_second:
            dt = time.perf_counter() - self._epoch_start
            if dt > 0:
                groups["train"]["epoch_steps_per_second"] = self._epoch_steps / dt
        for name, values in groups.items():
            if values:
                self.writer(name).add_scalars_dict(values, epoch)
                self._tags.update((name, t) for t in values)
        if self.histogram_freq and epoch % self.histogram_freq == 0 and self.model is not None:
            w = self.writer("train")
            for pname, p in self.model.named_parameters():
                w.add_histogram(pname, p, epoch, bins=self.histogram_bins)
                g = getattr(p, "grad", None)
                if g is not None:
                    w.add_histogram(pname + "/grad", g, epoch, bins=self.histogram_bins)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, logs=None):
        if self._hp is not None:
            root = self.writer("")
            root.add_hparams_experiment(self._hp, sorted(self._tags))
            root.add_hparams_end("success")
        self.close()

    def close(self):
        for w in self._writers.values():
            w.close()
        self._writers = {}
