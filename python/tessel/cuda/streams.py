"""CUDA streams and events under PyTorch's names (src/cuda/runtime.cpp, docs/cuda.md).

Work and allocations for a device go to this thread's current stream of it
(the legacy default stream until ``set_stream`` or ``with ts.cuda.stream(s):``
changes it). A tensor used on a stream other than the one it was allocated on
must say so with ``tensor.record_stream(s)``, so that its memory is not handed
out again before that stream's work is done.
"""
from .. import _C

_rt = _C._cuda


def _device_index(device):
    from . import _index
    i = _index(device)
    cur = _rt.current_device()  # raises, saying why, without a device
    if i >= _rt.device_count():
        raise ValueError(f"invalid CUDA device index {i}: {_rt.device_count()} device(s) available")
    return cur if i < 0 else i


class Stream:
    """A CUDA stream on `device` (default: the current one); ``priority`` lower is higher
    (see ``Stream.priority_range``). ``Stream(stream_ptr=...)`` wraps an existing stream it does
    not own (as torch.cuda.ExternalStream). Streams live until the process ends: make them once,
    not per step."""

    def __init__(self, device=None, priority=0, stream_ptr=None, _owned=None):
        self._index = _device_index(device)
        if stream_ptr is None:
            self.cuda_stream = _rt.stream_create(self._index, int(priority))
            self._owned = True
        else:
            self.cuda_stream = int(stream_ptr)
            self._owned = bool(_owned)

    @property
    def device(self):
        return _C.device(f"cuda:{self._index}")

    @property
    def device_index(self):
        return self._index

    @staticmethod
    def priority_range(device=None):
        """(least, greatest) priority, e.g. (0, -5): numerically lower is higher."""
        return tuple(_rt.stream_priority_range(-1 if device is None else _device_index(device)))

    def query(self):
        """Whether all work queued on the stream has completed."""
        return _rt.stream_query(self.cuda_stream, self._index)

    def synchronize(self):
        """Waits for all work queued on the stream."""
        _rt.stream_synchronize(self.cuda_stream, self._index)

    def wait_event(self, event):
        """Makes later work on this stream wait for `event` (the host does not wait)."""
        event._ensure(self._index)
        _rt.stream_wait_event(self.cuda_stream, event._handle, self._index)

    def wait_stream(self, stream):
        """Makes later work on this stream wait for the work queued on `stream` so far."""
        self.wait_event(stream.record_event())

    def record_event(self, event=None):
        """Records `event` (a new one when None) on this stream and returns it."""
        event = Event() if event is None else event
        event.record(self)
        return event

    def __eq__(self, other):
        return isinstance(other, Stream) and (self.cuda_stream, self._index) == (other.cuda_stream, other._index)

    def __hash__(self):
        return hash((self.cuda_stream, self._index))

    def __repr__(self):
        return f"<tessel.cuda.Stream device=cuda:{self._index} cuda_stream={self.cuda_stream:#x}>"

    # No __del__: a stream is never destroyed (as PyTorch's pooled streams). The allocator keys cached
    # blocks by stream handle, and set_stream may leave a dropped Stream current; a destroyed handle
    # reused by a new stream could be handed a block the old stream's queued work still uses.


class ExternalStream(Stream):
    """A stream made elsewhere (another library), used but never destroyed by tessel."""

    def __init__(self, stream_ptr, device=None):
        super().__init__(device, stream_ptr=stream_ptr)


class Event:
    """A CUDA event: marks a point in a stream's work. Made on its first ``record`` (so Event()
    works without a device, as in PyTorch); ``enable_timing=True`` for ``elapsed_time``."""

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        if interprocess:
            raise ValueError("cuda.Event: interprocess events are not supported")
        self.enable_timing = bool(enable_timing)
        self.blocking = bool(blocking)
        self._handle = 0
        self._index = -1

    def _ensure(self, index):
        if not self._handle:
            self._handle = _rt.event_create(index, self.enable_timing, self.blocking)
            self._index = index
        elif index != self._index:
            raise ValueError(f"cuda.Event: the event belongs to cuda:{self._index}, not cuda:{index}")

    @property
    def cuda_event(self):
        return self._handle

    def record(self, stream=None):
        """Records the event on `stream` (default: the current stream)."""
        stream = current_stream() if stream is None else stream
        self._ensure(stream.device_index)
        _rt.event_record(self._handle, stream.cuda_stream, self._index)

    def wait(self, stream=None):
        """Makes later work on `stream` (default: the current one) wait for this event."""
        (current_stream() if stream is None else stream).wait_event(self)

    def query(self):
        """Whether the work before the record has completed (True if never recorded)."""
        return True if not self._handle else _rt.event_query(self._handle, self._index)

    def synchronize(self):
        """Waits for the work before the record (returns at once if never recorded)."""
        if self._handle:
            _rt.event_synchronize(self._handle, self._index)

    def elapsed_time(self, end_event):
        """Milliseconds from this event to `end_event`; both recorded with enable_timing=True."""
        if not (self.enable_timing and end_event.enable_timing):
            raise ValueError("cuda.Event.elapsed_time: both events need enable_timing=True")
        if not (self._handle and end_event._handle):
            raise ValueError("cuda.Event.elapsed_time: both events must be recorded first")
        return _rt.event_elapsed_ms(self._handle, end_event._handle, self._index)

    def __repr__(self):
        return f"<tessel.cuda.Event {self._handle:#x}>" if self._handle else "<tessel.cuda.Event uninitialized>"

    def __del__(self):
        if getattr(self, "_handle", 0):
            try:
                _rt.event_destroy(self._handle, self._index)
            except Exception:
                pass


def current_stream(device=None):
    """This thread's current stream of `device` (default: the current device)."""
    i = _device_index(device)
    return Stream(i, stream_ptr=_rt.current_stream(i))


def default_stream(device=None):
    """The legacy default stream of `device` (cuda_stream 0)."""
    return Stream(_device_index(device), stream_ptr=0)


def set_stream(stream):
    """Makes `stream` current for its device on this thread (None: nothing changes)."""
    if stream is not None:
        _rt.set_current_stream(stream.cuda_stream, stream.device_index)


class StreamContext:
    """``with ts.cuda.stream(s):`` runs the block with `s` current for its device (and that device
    current), then restores both; ``stream(None)`` changes nothing."""

    def __init__(self, stream):
        self.stream = stream
        self._saved = None

    def __enter__(self):
        s = self.stream
        if s is None:
            return None
        prev_device = _rt.current_device()
        if s.device_index != prev_device:
            _rt.set_device(s.device_index)
        self._saved = (prev_device, _rt.current_stream(s.device_index))
        _rt.set_current_stream(s.cuda_stream, s.device_index)
        return s

    def __exit__(self, *exc):
        if self._saved is not None:
            prev_device, prev_stream = self._saved
            _rt.set_current_stream(prev_stream, self.stream.device_index)
            if prev_device != self.stream.device_index:
                _rt.set_device(prev_device)
            self._saved = None
        return False


def stream(stream):
    """Context manager: ``with ts.cuda.stream(s): ...`` (see StreamContext)."""
    return StreamContext(stream)


def _pin_memory(self, device=None):
    """A copy of this CPU tensor in page-locked host memory (copies to and from it can overlap)."""
    return _rt.pin_memory(self)


def _is_pinned(self, device=None):
    """Whether the tensor's memory is page-locked (False without a CUDA driver)."""
    return _rt.is_pinned(self)


def _record_stream(self, stream):
    """Marks this CUDA tensor's memory as used on `stream`: when freed, it is reused only after the
    work queued on `stream` by then has completed."""
    _rt.record_stream(self, stream.cuda_stream)


def install(tensor_cls):
    for name, fn in {"pin_memory": _pin_memory, "is_pinned": _is_pinned, "record_stream": _record_stream}.items():
        if not hasattr(tensor_cls, name):  # never shadow a C++ binding
            setattr(tensor_cls, name, fn)
