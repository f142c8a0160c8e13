"""edge-rt for Python: the C API (edge_rt.h) through ctypes, standard library only.

    import edge_rt
    with edge_rt.Model("models/stories260K", budget_bytes=64 << 20) as model:
        session = model.session()
        session.append(model.tokenize("Once upon a time"))
        for text in session.generate(max_tokens=32, temperature=0):
            print(text, end="", flush=True)

The library is found through $EDGE_RT_LIBRARY, then beside this package in an installed tree
(<prefix>/share/edge-rt/python -> <prefix>/lib*/libedge_rt.so), then the system's search path.

Threads: a Model may be used from any thread; a Session from one thread at a time. ctypes releases the GIL
during each call, so sessions on different threads run at once (their forward passes take turns on the model).
Errors raise EdgeRtError (Cancelled for an abort), carrying the status name and the library's message.
"""

import ctypes
import ctypes.util
import glob
import os
import queue
import threading

__all__ = ["Model", "Session", "EdgeRtError", "Cancelled", "library_version"]

_STATUS = {
    0: "ok", 1: "invalid argument", 2: "I/O error", 3: "invalid format", 4: "missing field", 5: "unsupported",
    6: "memory budget exceeded", 7: "context overflow", 8: "non-finite numbers", 9: "internal error",
    10: "cancelled", 11: "invalid handle", 12: "session busy", 13: "buffer too small", 14: "out of memory",
}
_CANCELLED = 10
_BUFFER_TOO_SMALL = 13
_STOP_REASONS = {0: "none", 1: "eos", 2: "max_tokens", 3: "context_full", 4: "callback", 5: "stop_string",
                 6: "cancelled"}


class EdgeRtError(Exception):
    """A failed call: .status (the edge_rt_status number), .name and the library's message."""

    def __init__(self, status, message):
        self.status = status
        self.name = _STATUS.get(status, "unknown status")
        super().__init__(f"{self.name}: {message}")


class Cancelled(EdgeRtError):
    """The abort callback cancelled the call; the session is still usable."""


_token = ctypes.c_int32
_ABORT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_ON_TOKEN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, _token, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t)


class _ModelParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("budget_bytes", ctypes.c_uint64),
                ("strategy", ctypes.c_char_p), ("device", ctypes.c_char_p), ("gpu_layers", ctypes.c_int32),
                ("fallback", ctypes.c_int), ("n_threads", ctypes.c_int32), ("n_ctx", ctypes.c_uint32),
                ("n_batch", ctypes.c_uint32), ("n_sessions", ctypes.c_uint32), ("use_mmap", ctypes.c_int32),
                ("cold_cache", ctypes.c_int32)]


class _SessionParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("n_ctx", ctypes.c_uint32), ("n_batch", ctypes.c_uint32)]


class _GenerateParams(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("max_tokens", ctypes.c_uint32), ("temperature", ctypes.c_float),
                ("top_k", ctypes.c_int32), ("top_p", ctypes.c_float), ("min_p", ctypes.c_float),
                ("repeat_penalty", ctypes.c_float), ("repeat_last_n", ctypes.c_int32), ("seed", ctypes.c_uint64),
                ("stop_at_eos", ctypes.c_int32), ("stop_tokens", ctypes.POINTER(_token)),
                ("n_stop_tokens", ctypes.c_size_t), ("stop_strings", ctypes.POINTER(ctypes.c_char_p)),
                ("n_stop_strings", ctypes.c_size_t), ("on_token", _ON_TOKEN), ("on_token_user_data", ctypes.c_void_p),
                ("abort", _ABORT), ("abort_user_data", ctypes.c_void_p)]


class _ModelInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("architecture", ctypes.c_char * 64), ("n_vocab", ctypes.c_uint32),
                ("n_ctx_max", ctypes.c_uint32), ("n_ctx", ctypes.c_uint32), ("n_layers", ctypes.c_uint32),
                ("n_params", ctypes.c_uint64), ("weight_bytes", ctypes.c_uint64), ("budget_bytes", ctypes.c_uint64),
                ("bos", _token), ("eos", _token), ("adds_bos", ctypes.c_int32), ("streams", ctypes.c_int32)]


class _Metrics(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("stop_reason", ctypes.c_int), ("n_tokens", ctypes.c_uint64),
                ("n_past", ctypes.c_uint64), ("n_prompt_tokens", ctypes.c_uint64),
                ("n_reused_tokens", ctypes.c_uint64), ("n_generated_tokens", ctypes.c_uint64),
                ("load_ms", ctypes.c_double), ("ttft_ms", ctypes.c_double), ("prefill_ms", ctypes.c_double),
                ("decode_ms", ctypes.c_double), ("prefill_tok_s", ctypes.c_double), ("decode_tok_s", ctypes.c_double),
                ("weight_bytes_loaded", ctypes.c_uint64), ("session_bytes", ctypes.c_uint64),
                ("peak_pool_bytes", ctypes.c_uint64), ("budget_bytes", ctypes.c_uint64)]


def _find_library():
    explicit = os.environ.get("EDGE_RT_LIBRARY")
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(__file__))
    prefix = os.path.normpath(os.path.join(here, "..", "..", "..", ".."))  # <prefix>/share/edge-rt/python/edge_rt
    for pattern in ("lib/libedge_rt.so", "lib/*/libedge_rt.so", "lib64/libedge_rt.so"):
        found = sorted(glob.glob(os.path.join(prefix, pattern)))
        if found:
            return found[0]
    return ctypes.util.find_library("edge_rt") or "libedge_rt.so"


def _load():
    lib = ctypes.CDLL(_find_library())
    p = ctypes.POINTER
    sigs = {
        "edge_rt_version": (ctypes.c_char_p, []),
        "edge_rt_last_error": (ctypes.c_char_p, []),
        "edge_rt_model_default_params": (_ModelParams, []),
        "edge_rt_session_default_params": (_SessionParams, []),
        "edge_rt_generate_default_params": (_GenerateParams, []),
        "edge_rt_model_load": (ctypes.c_int, [ctypes.c_char_p, p(_ModelParams), p(ctypes.c_void_p)]),
        "edge_rt_model_free": (ctypes.c_int, [ctypes.c_void_p]),
        "edge_rt_model_get_info": (ctypes.c_int, [ctypes.c_void_p, p(_ModelInfo)]),
        "edge_rt_tokenize": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int32,
                                            p(_token), ctypes.c_size_t, p(ctypes.c_size_t)]),
        "edge_rt_detokenize": (ctypes.c_int, [ctypes.c_void_p, p(_token), ctypes.c_size_t, ctypes.c_char_p,
                                              ctypes.c_size_t, p(ctypes.c_size_t)]),
        "edge_rt_session_create": (ctypes.c_int, [ctypes.c_void_p, p(_SessionParams), p(ctypes.c_void_p)]),
        "edge_rt_session_free": (ctypes.c_int, [ctypes.c_void_p]),
        "edge_rt_session_append": (ctypes.c_int, [ctypes.c_void_p, p(_token), ctypes.c_size_t, _ABORT,
                                                  ctypes.c_void_p]),
        "edge_rt_session_set_tokens": (ctypes.c_int, [ctypes.c_void_p, p(_token), ctypes.c_size_t, _ABORT,
                                                      ctypes.c_void_p]),
        "edge_rt_session_generate": (ctypes.c_int, [ctypes.c_void_p, p(_GenerateParams)]),
        "edge_rt_session_truncate": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t]),
        "edge_rt_session_tokens": (ctypes.c_int, [ctypes.c_void_p, p(_token), ctypes.c_size_t, p(ctypes.c_size_t)]),
        "edge_rt_session_metrics": (ctypes.c_int, [ctypes.c_void_p, p(_Metrics)]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


_lib = None
_lib_lock = threading.Lock()


def _c():
    global _lib
    with _lib_lock:
        if _lib is None:
            _lib = _load()
        return _lib


def _check(status):
    if status != 0:
        message = _c().edge_rt_last_error().decode("utf-8", "replace")
        raise (Cancelled if status == _CANCELLED else EdgeRtError)(status, message)


def library_version():
    """The loaded library's version string, "MAJOR.MINOR.PATCH"."""
    return _c().edge_rt_version().decode()


def _abort_callback(abort):
    if abort is None:
        return _ABORT()  # NULL
    return _ABORT(lambda _user: 1 if abort() else 0)


def _token_array(tokens):
    tokens = list(tokens)
    return (_token * len(tokens))(*tokens), len(tokens)


class _Handle:
    """An edge-rt handle: close() (or leaving a with-block, or garbage collection) frees it once."""

    _kind = ""  # "model" or "session": names edge_rt_<kind>_free
    _handle = None

    def _h(self):
        if self._handle is None:
            raise EdgeRtError(11, f"the {self._kind} is closed")
        return self._handle

    def close(self):
        if self._handle is not None:
            _check(getattr(_c(), f"edge_rt_{self._kind}_free")(self._handle))
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if self._handle is not None and _lib is not None:
            getattr(_lib, f"edge_rt_{self._kind}_free")(self._handle)


class Model(_Handle):
    """A loaded model (folder, .gguf file or folder holding one). Keyword arguments are edge_rt_model_params'
    fields: budget_bytes (0: unlimited), strategy, device, gpu_layers, fallback ("cpu" or "fail"), n_threads, n_ctx,
    n_batch, n_sessions, use_mmap, cold_cache. close() (or the with-block) frees the handle; sessions keep the
    model itself alive."""

    _kind = "model"

    def __init__(self, path, *, budget_bytes=0, strategy=None, device=None, gpu_layers=-1, fallback="cpu",
                 n_threads=0, n_ctx=0, n_batch=0, n_sessions=1, use_mmap=False, cold_cache=False):
        c = _c()
        if fallback not in ("cpu", "fail"):
            raise ValueError(f"fallback is {fallback!r}, expected 'cpu' or 'fail'")
        params = c.edge_rt_model_default_params()
        params.budget_bytes = budget_bytes
        params.strategy = strategy.encode() if strategy else None
        params.device = device.encode() if device else None
        params.gpu_layers = gpu_layers
        params.fallback = 0 if fallback == "cpu" else 1
        params.n_threads = n_threads
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_sessions = n_sessions
        params.use_mmap = int(use_mmap)
        params.cold_cache = int(cold_cache)
        handle = ctypes.c_void_p()
        _check(c.edge_rt_model_load(os.fsencode(path), ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle

    @property
    def info(self):
        """A dict of edge_rt_model_info: architecture, n_vocab, n_ctx_max, n_ctx, n_layers, n_params,
        weight_bytes, budget_bytes, bos, eos, adds_bos, streams."""
        info = _ModelInfo(struct_size=ctypes.sizeof(_ModelInfo))
        _check(_c().edge_rt_model_get_info(self._h(), ctypes.byref(info)))
        out = {name: getattr(info, name) for name, _ in _ModelInfo._fields_ if name != "struct_size"}
        out["architecture"] = info.architecture.decode()
        out["adds_bos"] = bool(info.adds_bos)
        out["streams"] = bool(info.streams)
        return out

    def tokenize(self, text, add_bos=True):
        """Text to ids; add_bos puts BOS first where the model family wants it."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        c, n = _c(), ctypes.c_size_t()
        capacity = len(data) + 2
        while True:
            buf = (_token * capacity)()
            status = c.edge_rt_tokenize(self._h(), data, len(data), int(add_bos), buf, capacity, ctypes.byref(n))
            if status != _BUFFER_TOO_SMALL:
                _check(status)
                return list(buf[:n.value])
            capacity = n.value

    def detokenize(self, tokens):
        """Ids to text (invalid UTF-8 from byte tokens becomes U+FFFD)."""
        arr, count = _token_array(tokens)
        c, n = _c(), ctypes.c_size_t()
        status = c.edge_rt_detokenize(self._h(), arr, count, None, 0, ctypes.byref(n))
        if status != _BUFFER_TOO_SMALL:
            _check(status)
        buf = ctypes.create_string_buffer(n.value + 1)
        _check(c.edge_rt_detokenize(self._h(), arr, count, buf, n.value + 1, ctypes.byref(n)))
        return buf.raw[:n.value].decode("utf-8")

    def session(self, n_ctx=0, n_batch=0):
        """A new Session (its KV cache counted in the model's budget)."""
        return Session(self, n_ctx, n_batch)


class Session(_Handle):
    """One conversation on a Model: append() prefills, generate() streams text. One thread at a time."""

    _kind = "session"

    def __init__(self, model, n_ctx=0, n_batch=0):
        c = _c()
        params = c.edge_rt_session_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        handle = ctypes.c_void_p()
        _check(c.edge_rt_session_create(model._h(), ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle

    def append(self, tokens, abort=None):
        """Appends ids and prefills what is not evaluated yet. abort(): a callable polled before each weight group
        and unit; True cancels (raises Cancelled; the session is as before)."""
        arr, count = _token_array(tokens)
        callback = _abort_callback(abort)
        _check(_c().edge_rt_session_append(self._h(), arr, count, callback, None))

    def set_tokens(self, tokens, abort=None):
        """Makes the session's tokens equal `tokens`, keeping the KV cache of the prefix they share with it and
        prefilling the rest (re-render a whole chat each turn; only the new turn is computed)."""
        arr, count = _token_array(tokens)
        callback = _abort_callback(abort)
        _check(_c().edge_rt_session_set_tokens(self._h(), arr, count, callback, None))

    def generate(self, max_tokens=128, temperature=0.8, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0,
                 repeat_last_n=64, seed=0, stop=(), stop_tokens=(), stop_at_eos=True, abort=None):
        """Yields text pieces as they are generated (whole UTF-8 characters; a possible stop string held back).
        Leaving the loop early stops generation. stop: strings that end it (not included); stop_tokens: ids that
        end it as EOS does. Raises Cancelled when abort() returns True."""
        c = _c()
        params = c.edge_rt_generate_default_params()
        params.max_tokens = max_tokens
        params.temperature = temperature
        params.top_k = top_k
        params.top_p = top_p
        params.min_p = min_p
        params.repeat_penalty = repeat_penalty
        params.repeat_last_n = repeat_last_n
        params.seed = seed
        params.stop_at_eos = int(stop_at_eos)
        stops = [s.encode("utf-8") for s in stop]
        stop_arr = (ctypes.c_char_p * len(stops))(*stops)
        params.stop_strings = stop_arr
        params.n_stop_strings = len(stops)
        ids, n_ids = _token_array(stop_tokens)
        params.stop_tokens = ids
        params.n_stop_tokens = n_ids
        pieces = queue.Queue(maxsize=1)  # generation waits for the consumer: at most one piece ahead
        closed = threading.Event()

        def on_token(_user, _token_id, text, length):
            pieces.put(ctypes.string_at(text, length).decode("utf-8", "replace"))
            return 1 if closed.is_set() else 0

        on_token_c = _ON_TOKEN(on_token)
        abort_c = _abort_callback(abort)
        params.on_token = on_token_c
        params.abort = abort_c
        handle = self._h()
        outcome = {}

        def run():
            try:
                outcome["status"] = c.edge_rt_session_generate(handle, ctypes.byref(params))
                if outcome["status"] != 0:
                    outcome["message"] = c.edge_rt_last_error().decode("utf-8", "replace")
            finally:
                pieces.put(None)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        finished = False
        try:
            while True:
                piece = pieces.get()
                if piece is None:
                    finished = True
                    break
                if piece:
                    yield piece
        finally:
            if not finished:  # the consumer left early: the next token stops generation
                closed.set()
                while pieces.get() is not None:
                    pass
            worker.join()
        status = outcome.get("status", 9)
        if status != 0:
            raise (Cancelled if status == _CANCELLED else EdgeRtError)(status, outcome.get("message", ""))

    def truncate(self, n_tokens):
        """Keeps the first n_tokens tokens (and their KV cache)."""
        _check(_c().edge_rt_session_truncate(self._h(), n_tokens))

    @property
    def tokens(self):
        """Every token appended and generated so far."""
        c, n = _c(), ctypes.c_size_t()
        status = c.edge_rt_session_tokens(self._h(), None, 0, ctypes.byref(n))
        if status != _BUFFER_TOO_SMALL:
            _check(status)
        buf = (_token * n.value)()
        _check(c.edge_rt_session_tokens(self._h(), buf, n.value, ctypes.byref(n)))
        return list(buf[:n.value])

    @property
    def metrics(self):
        """A dict of edge_rt_metrics for the last call (stop_reason as a name)."""
        m = _Metrics(struct_size=ctypes.sizeof(_Metrics))
        _check(_c().edge_rt_session_metrics(self._h(), ctypes.byref(m)))
        out = {name: getattr(m, name) for name, _ in _Metrics._fields_ if name != "struct_size"}
        out["stop_reason"] = _STOP_REASONS.get(m.stop_reason, "unknown")
        return out
