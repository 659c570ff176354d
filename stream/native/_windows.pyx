# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Per-client sliding windows in C arrays, and the per-event loop of `FeatureExtractor.extract_batch`.

`NativeWindows` is the compiled twin of `stream.windows.ClientWindows`: the same public surface,
the same LRU and idle eviction, the same bucket arithmetic. `NativeWindows.extract_batch` fills the
first 11 feature columns and the raw window values of a whole batch in one C loop, and returns the
`ClientStats` list. stream/features.py scales the window columns with the same NumPy code for both
engines, because NumPy's `log1p` may use SIMD code whose results differ from the C library's.

The per-event signals come from the Python helpers of stream/features.py, called once per distinct
status, method, request target and user agent (`EventSignals` keeps their results), so the maths of
a feature lives in one place. tests/test_native_windows.py checks that both engines give the same
matrix, bit for bit, and the same stats.
"""

cimport cython
from cpython.dict cimport PyDict_GetItemWithError
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.math cimport isinf, isnan, log1p
from libc.stdint cimport int8_t, int16_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from array import array
from collections import OrderedDict

from agents.messages import ClientStats
from stream import windows as reference
from stream.events import AccessEvent

cdef extern from *:
    """
    #include <math.h>
    #include <structmember.h>

    /* `vx // wx` for floats, as CPython computes it (`_float_div_mod` in Objects/floatobject.c):
       it can differ from floor(vx / wx) when the quotient rounds up to an integer. */
    static double centinela_floor_div(double vx, double wx) {
        double mod = fmod(vx, wx);
        double div = (vx - mod) / wx;
        double floordiv;
        if (mod) {
            if ((wx < 0) != (mod < 0)) {
                div -= 1.0;
            }
        }
        if (div) {
            floordiv = floor(div);
            if (div - floordiv > 0.5) {
                floordiv += 1.0;
            }
        } else {
            floordiv = copysign(0.0, vx / wx);
        }
        return floordiv;
    }

    static inline int centinela_popcount(unsigned long long x) { return __builtin_popcountll(x); }

    /* What `tuple.__new__(ClientStats, values)` builds, without the intermediate tuple. */
    static PyObject *centinela_client_stats(
        PyObject *type, unsigned long requests, double rate, double share_4xx, double share_5xx,
        long paths, unsigned long not_found, unsigned long failed, long users, unsigned long probes,
        unsigned long injections, unsigned long handshakes
    ) {
        PyObject *items[11];
        PyObject *stats;
        int i;
        items[0] = PyLong_FromUnsignedLong(requests);
        items[1] = PyFloat_FromDouble(rate);
        items[2] = PyFloat_FromDouble(share_4xx);
        items[3] = PyFloat_FromDouble(share_5xx);
        items[4] = PyLong_FromLong(paths);
        items[5] = PyLong_FromUnsignedLong(not_found);
        items[6] = PyLong_FromUnsignedLong(failed);
        items[7] = PyLong_FromLong(users);
        items[8] = PyLong_FromUnsignedLong(probes);
        items[9] = PyLong_FromUnsignedLong(injections);
        items[10] = PyLong_FromUnsignedLong(handshakes);
        for (i = 0; i < 11; i++) {
            if (items[i] == NULL) {
                goto fail;
            }
        }
        stats = ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 11);
        if (stats == NULL) {
            goto fail;
        }
        for (i = 0; i < 11; i++) {
            PyTuple_SET_ITEM(stats, i, items[i]);
        }
        return stats;
    fail:
        for (i = 0; i < 11; i++) {
            Py_XDECREF(items[i]);
        }
        return NULL;
    }

    /* A slot of an object read through its member descriptor (a `__slots__` entry): a new
       reference, or NULL with AttributeError when the slot is unset. */
    static PyObject *centinela_read_member(PyObject *obj, PyObject *descriptor) {
        return PyMember_GetOne((const char *)obj, ((PyMemberDescrObject *)descriptor)->d_member);
    }
    """
    double centinela_floor_div(double vx, double wx) nogil
    int centinela_popcount(unsigned long long x) nogil
    object centinela_client_stats(
        object stats_type, unsigned long requests, double rate, double share_4xx, double share_5xx,
        long paths, unsigned long not_found, unsigned long failed, long users, unsigned long probes,
        unsigned long injections, unsigned long handshakes
    )
    object centinela_read_member(object obj, object descriptor)


# The layout of `ClientWindow.counts`: N_BUCKETS buckets of N_COUNTERS counters, then the totals.
cdef enum:
    N_BUCKETS = 6
    N_COUNTERS = 8
    TOTALS = N_BUCKETS * N_COUNTERS
    N_COUNTS = TOTALS + N_COUNTERS
    PATH_BITS = 256
    PATH_WORDS = PATH_BITS // 64
    USER_BITS = 64
    REQUESTS = 0

# Counter slots, taken from the reference so that both engines count into the same places.
cdef int C4XX = reference.C4XX
cdef int C5XX = reference.C5XX
cdef int NOT_FOUND = reference.NOT_FOUND
cdef int FAILED_LOGIN = reference.FAILED_LOGIN
cdef int PROBE = reference.PROBE
cdef int INJECTION = reference.INJECTION
cdef int HANDSHAKE = reference.HANDSHAKE

if (reference.N_BUCKETS, reference.N_COUNTERS, reference.PATH_BITS, reference.USER_BITS, reference.REQUESTS) != (
    N_BUCKETS, N_COUNTERS, PATH_BITS, USER_BITS, REQUESTS
):
    raise ImportError(
        "stream.native._windows was built for another window layout than stream/windows.py; "
        "rebuild it with `python setup.py build_ext --inplace`"
    )

# Linear-counting estimates by number of set bits, copied from the reference tables.
cdef long PATH_ESTIMATES[PATH_BITS + 1]
cdef long USER_ESTIMATES[USER_BITS + 1]
for _set in range(PATH_BITS + 1):
    PATH_ESTIMATES[_set] = reference._PATH_ESTIMATES[_set]
for _set in range(USER_BITS + 1):
    USER_ESTIMATES[_set] = reference._USER_ESTIMATES[_set]

# Bucket numbers stay far from the int64 limits, so that differences of two of them cannot overflow.
# NOTE: the Python windows take any finite timestamp, these raise OverflowError past 2**62 buckets.
cdef double MAX_BUCKET = 2.0 ** 62

cdef object hash_bit = reference.hash_bit
cdef object stats_type = ClientStats

# AccessEvent's slot descriptors. The kernel reads each field through its descriptor, which skips the
# attribute lookup that 11 fields per event would otherwise cost.
cdef object event_type = AccessEvent
cdef object member_descriptor_type = type(AccessEvent.timestamp)
cdef object SOURCE_IP = AccessEvent.source_ip
cdef object SOURCE_ADDRESS = AccessEvent.source_address
cdef object TIMESTAMP = AccessEvent.timestamp
cdef object STATUS = AccessEvent.http_response_status_code
cdef object METHOD = AccessEvent.http_request_method
cdef object URL_PATH = AccessEvent.url_path
cdef object URL_QUERY = AccessEvent.url_query
cdef object AGENT = AccessEvent.user_agent_original
cdef object BODY_BYTES = AccessEvent.http_response_body_bytes
cdef object USER_NAME = AccessEvent.user_name
cdef object TAGS = AccessEvent.tags
for _descriptor in (
    SOURCE_IP, SOURCE_ADDRESS, TIMESTAMP, STATUS, METHOD, URL_PATH, URL_QUERY, AGENT, BODY_BYTES, USER_NAME, TAGS
):
    if type(_descriptor) is not member_descriptor_type:
        raise ImportError("stream.native._windows expects AccessEvent to be a slotted dataclass")


cdef inline object event_field(object event, object descriptor, str name):
    if type(event) is event_type:
        return centinela_read_member(event, descriptor)
    return getattr(event, name)


cdef inline int64_t python_mod(int64_t value, int64_t divisor) noexcept nogil:
    """Return `value % divisor` with Python's sign rule (the result has the sign of `divisor`)."""
    cdef int64_t rest = value % divisor
    if rest != 0 and (rest < 0) != (divisor < 0):
        rest += divisor
    return rest


cdef int64_t bucket_of(double timestamp, double bucket_seconds) except? -1:
    """Return `int(timestamp // bucket_seconds)`, raising what Python raises for the same values."""
    if bucket_seconds == 0.0:
        raise ZeroDivisionError("float floor division by zero")
    cdef double bucket = centinela_floor_div(timestamp, bucket_seconds)
    if isnan(bucket):
        raise ValueError("cannot convert float NaN to integer")
    if isinf(bucket):
        raise OverflowError("cannot convert float infinity to integer")
    if bucket >= MAX_BUCKET or bucket <= -MAX_BUCKET:
        raise OverflowError(f"timestamp {timestamp!r} is out of the range the compiled windows support")
    return <int64_t>bucket


cdef int bit_index(object bit) except -1:
    """Return k for the integer 1 << k that `hash_bit` returns."""
    return bit.bit_length() - 1


# Per-client window


@cython.final
@cython.auto_pickle(False)
cdef class NativeWindow:
    """One client's buckets in C arrays, the compiled `ClientWindow`.

    Only the buckets are stored. The totals and the path and user unions are computed when read,
    as the sum and the OR of the buckets: the reference keeps its copies equal to those, and leaving
    them out keeps the object small. The user bitmaps are allocated with the first user name, because
    most clients never send one.
    """

    cdef uint32_t _counts[TOTALS]
    cdef uint64_t _paths[N_BUCKETS * PATH_WORDS]
    cdef uint64_t* _users  # N_BUCKETS bitmaps, or NULL while every one would be 0
    cdef readonly int64_t head
    cdef readonly int64_t oldest
    cdef readonly double last_seen

    def __dealloc__(self):
        PyMem_Free(self._users)

    @property
    def counts(self) -> array:
        """A copy of the bucket counters followed by the totals, laid out as `ClientWindow.counts`."""
        cdef uint32_t totals[N_COUNTERS]
        sum_totals(self, totals)
        return array("I", [self._counts[i] for i in range(TOTALS)] + [totals[i] for i in range(N_COUNTERS)])

    @property
    def paths(self) -> list:
        """A copy of the path bitmap of each bucket, as Python integers."""
        return [join_words(&self._paths[slot * PATH_WORDS]) for slot in range(N_BUCKETS)]

    @property
    def users(self) -> list | None:
        """A copy of the user bitmap of each bucket, as Python integers; None before the first user name."""
        if self._users == NULL:
            return None
        return [self._users[slot] for slot in range(N_BUCKETS)]

    @property
    def path_union(self) -> int:
        cdef uint64_t words[PATH_WORDS]
        path_union(self, words)
        return join_words(words)

    @property
    def user_union(self) -> int:
        return user_union(self)

    def active_buckets(self) -> int:
        """Return how many buckets, counted back from the newest, reach the oldest one holding a request."""
        return count_active_buckets(self)

    def distinct_paths(self) -> int:
        return PATH_ESTIMATES[path_bits_set(self)]

    def distinct_users(self) -> int:
        return USER_ESTIMATES[centinela_popcount(user_union(self))]


cdef object join_words(const uint64_t* words):
    """Return the PATH_WORDS 64-bit words at `words`, least significant first, as one Python integer."""
    bitmap = 0
    for w in range(PATH_WORDS):
        bitmap |= (<object>words[w]) << (64 * w)
    return bitmap


cdef inline void sum_totals(NativeWindow window, uint32_t* totals) noexcept:
    cdef int slot, i
    for i in range(N_COUNTERS):
        totals[i] = 0
    for slot in range(N_BUCKETS):
        for i in range(N_COUNTERS):
            totals[i] += window._counts[slot * N_COUNTERS + i]


cdef inline void path_union(NativeWindow window, uint64_t* words) noexcept:
    cdef int slot, w
    for w in range(PATH_WORDS):
        words[w] = 0
    for slot in range(N_BUCKETS):
        for w in range(PATH_WORDS):
            words[w] |= window._paths[slot * PATH_WORDS + w]


cdef inline int path_bits_set(NativeWindow window) noexcept:
    cdef uint64_t words[PATH_WORDS]
    cdef int w, total = 0
    path_union(window, words)
    for w in range(PATH_WORDS):
        total += centinela_popcount(words[w])
    return total


cdef inline uint64_t user_union(NativeWindow window) noexcept:
    cdef uint64_t union = 0
    cdef int slot
    if window._users != NULL:
        for slot in range(N_BUCKETS):
            union |= window._users[slot]
    return union


cdef inline int count_active_buckets(NativeWindow window) noexcept:
    cdef int age, active = 0
    for age in range(N_BUCKETS):
        if window._counts[python_mod(window.head - age, N_BUCKETS) * N_COUNTERS + REQUESTS]:
            active = age + 1
    return active


cdef int64_t advance(NativeWindow window, int64_t bucket) noexcept:
    """Move the newest bucket forward to `bucket`, clearing expired ones, and return the event's slot (`ClientWindow.advance`)."""
    cdef int64_t step, slot
    if bucket - window.head >= N_BUCKETS:
        # Every bucket expired: start afresh.
        memset(window._counts, 0, sizeof(window._counts))
        memset(window._paths, 0, sizeof(window._paths))
        if window._users != NULL:
            memset(window._users, 0, N_BUCKETS * sizeof(uint64_t))
        window.head = bucket
        window.oldest = bucket
        return python_mod(bucket, N_BUCKETS)
    if bucket > window.head:
        for step in range(1, bucket - window.head + 1):
            slot = python_mod(window.head + step, N_BUCKETS)
            memset(&window._counts[slot * N_COUNTERS], 0, N_COUNTERS * sizeof(uint32_t))
            memset(&window._paths[slot * PATH_WORDS], 0, PATH_WORDS * sizeof(uint64_t))
            if window._users != NULL:
                window._users[slot] = 0
        window.head = bucket
        if window.oldest <= bucket - N_BUCKETS:
            window.oldest = bucket - max(count_active_buckets(window) - 1, 0)
    # Out-of-order events older than the window land in the oldest bucket, as in the reference.
    return python_mod(max(bucket, window.head - N_BUCKETS + 1), N_BUCKETS)


cdef int64_t slot_for(NativeWindow window, int64_t bucket) noexcept:
    """Return the slot an event of `bucket` counts in, moving the window first (`ClientWindows.update`)."""
    cdef int64_t slot
    if bucket == window.head:
        return python_mod(bucket, N_BUCKETS)
    slot = advance(window, bucket)
    if bucket < window.oldest:
        window.oldest = max(bucket, window.head - N_BUCKETS + 1)
    return slot


cdef inline void increment(NativeWindow window, int64_t slot, int counter) noexcept:
    # NOTE: a counter past 2**32 - 1 wraps to 0 here, where the Python array("I") raises OverflowError.
    window._counts[slot * N_COUNTERS + counter] += 1


cdef inline int mark(NativeWindow window, int64_t slot, int path_bit, int user_bit) except -1:
    if path_bit >= 0:
        window._paths[slot * PATH_WORDS + (path_bit >> 6)] |= (<uint64_t>1) << (path_bit & 63)
    if user_bit >= 0:
        if window._users == NULL:
            window._users = <uint64_t*>PyMem_Calloc(N_BUCKETS, sizeof(uint64_t))
            if window._users == NULL:
                raise MemoryError()
        window._users[slot] |= (<uint64_t>1) << user_bit
    return 0


cdef inline void window_values(NativeWindow window, double bucket_seconds, uint32_t* totals, double* out) noexcept:
    """Write the totals of `window` to `totals` and its 11 `ClientStats` values, as floats, to `out`."""
    sum_totals(window, totals)
    cdef uint32_t requests = totals[REQUESTS]
    out[0] = requests
    out[1] = requests * 60.0 / (<double>(window.head - window.oldest + 1) * bucket_seconds)
    out[2] = <double>totals[C4XX] / <double>requests
    out[3] = <double>totals[C5XX] / <double>requests
    out[4] = PATH_ESTIMATES[path_bits_set(window)]
    out[5] = totals[NOT_FOUND]
    out[6] = totals[FAILED_LOGIN]
    out[7] = USER_ESTIMATES[centinela_popcount(user_union(window))]
    out[8] = totals[PROBE]
    out[9] = totals[INJECTION]
    out[10] = totals[HANDSHAKE]


cdef object client_stats(const uint32_t* totals, const double* values):
    return centinela_client_stats(
        stats_type,
        totals[REQUESTS],
        values[1],
        values[2],
        values[3],
        <long>values[4],
        totals[NOT_FOUND],
        totals[FAILED_LOGIN],
        <long>values[7],
        totals[PROBE],
        totals[INJECTION],
        totals[HANDSHAKE],
    )


# Per-distinct-value signal rows


@cython.final
cdef class _StatusRow:
    cdef double status_class, at_least_400, is_403
    cdef int bits


@cython.final
cdef class _MethodRow:
    cdef double level, is_post


@cython.final
cdef class _TargetRow:
    cdef double depth, url_length, query_length, non_alnum, injection, hits, probe, login


@cython.final
cdef class _PathRows:
    """The target rows of one path (`plain` without a query, `by_query` for the others) and the path's bit index."""

    cdef _TargetRow plain
    cdef dict by_query
    cdef int bit


@cython.final
cdef class _AgentRow:
    cdef double kind, strength, hits


# One pending window update, between the feature pass and the window pass of a batch.
ctypedef struct Pending:
    PyObject* client  # an owned reference
    double timestamp
    int16_t path_bit  # -1 when the event has no path
    int8_t user_bit  # -1 when the event has no user name
    uint8_t counters  # bit k set: increment counter slot k


@cython.final
cdef class EventSignals:
    """Per-event signals of distinct values, computed once by the Python helpers of stream/features.py.

    `status`, `method`, `target` and `agent` are `_status_signals`, `_method_signals`,
    `_target_signals` and `_agent_signals`, and `bit_slots[k]` is the counter slot of bit k of a flag
    code. Each cache is a dict emptied when it reaches its capacity, so memory stays bounded.
    """

    cdef object status_fn, method_fn, target_fn, agent_fn
    cdef dict statuses, methods, paths, agents, users
    cdef Py_ssize_t status_capacity, method_capacity, target_capacity, agent_capacity, user_capacity
    cdef Py_ssize_t target_rows
    cdef int failed_bit, injection_bit, probe_bit, handshake_bit
    cdef uint8_t counters_of_code[256]
    cdef double log_bytes, scanner_kind
    cdef object handshake_tag, malformed_tag

    def __init__(
        self,
        *,
        status,
        method,
        target,
        agent,
        tuple bit_slots,
        double log_bytes,
        double scanner_kind,
        str handshake_tag,
        str malformed_tag,
        Py_ssize_t status_capacity=1024,
        Py_ssize_t method_capacity=1024,
        Py_ssize_t target_capacity=16_384,
        Py_ssize_t agent_capacity=8192,
        Py_ssize_t user_capacity=65_536,
    ):
        cdef int code, bit
        if len(bit_slots) > 8 or not all(0 < slot < N_COUNTERS for slot in bit_slots):
            raise ValueError(f"expected at most 8 flag bits, each a counter slot in 1..{N_COUNTERS - 1}, got {bit_slots!r}")
        self.status_fn, self.method_fn, self.target_fn, self.agent_fn = status, method, target, agent
        self.statuses, self.methods, self.paths, self.agents, self.users = {}, {}, {}, {}, {}
        self.status_capacity, self.method_capacity = status_capacity, method_capacity
        self.target_capacity, self.agent_capacity, self.user_capacity = target_capacity, agent_capacity, user_capacity
        self.target_rows = 0
        self.failed_bit = 1 << bit_slots.index(FAILED_LOGIN)
        self.injection_bit = 1 << bit_slots.index(INJECTION)
        self.probe_bit = 1 << bit_slots.index(PROBE)
        self.handshake_bit = 1 << bit_slots.index(HANDSHAKE)
        for code in range(256):
            self.counters_of_code[code] = 0
            for bit in range(len(bit_slots)):
                if code >> bit & 1:
                    self.counters_of_code[code] |= <uint8_t>(1 << <int>bit_slots[bit])
        self.log_bytes = log_bytes
        self.scanner_kind = scanner_kind
        self.handshake_tag, self.malformed_tag = handshake_tag, malformed_tag

    def clear(self) -> None:
        """Forget every cached row."""
        self.statuses.clear()
        self.methods.clear()
        self.paths.clear()
        self.agents.clear()
        self.users.clear()
        self.target_rows = 0

    cdef _StatusRow status_row(self, object status):
        cdef PyObject* found = PyDict_GetItemWithError(self.statuses, status)
        if found != NULL:
            return <_StatusRow>found
        values = self.status_fn(status)
        cdef _StatusRow row = _StatusRow.__new__(_StatusRow)
        row.status_class, row.bits, row.at_least_400, row.is_403 = values
        if len(self.statuses) >= self.status_capacity:
            self.statuses.clear()
        self.statuses[status] = row
        return row

    cdef _MethodRow method_row(self, object method):
        cdef PyObject* found = PyDict_GetItemWithError(self.methods, method)
        if found != NULL:
            return <_MethodRow>found
        values = self.method_fn(method)
        cdef _MethodRow row = _MethodRow.__new__(_MethodRow)
        row.level, row.is_post = values
        if len(self.methods) >= self.method_capacity:
            self.methods.clear()
        self.methods[method] = row
        return row

    cdef _PathRows path_rows(self, object path):
        cdef PyObject* found = PyDict_GetItemWithError(self.paths, path)
        if found != NULL:
            return <_PathRows>found
        cdef _PathRows rows = _PathRows.__new__(_PathRows)
        rows.bit = -1 if path is None else bit_index(hash_bit(path, PATH_BITS))
        if self.target_rows >= self.target_capacity:
            self.paths.clear()
            self.target_rows = 0
        self.paths[path] = rows
        return rows

    cdef _TargetRow target_row(self, _PathRows rows, object path, object query):
        cdef PyObject* found
        if query is None:
            if rows.plain is not None:
                return rows.plain
        elif rows.by_query is not None:
            found = PyDict_GetItemWithError(rows.by_query, query)
            if found != NULL:
                return <_TargetRow>found
        values = self.target_fn((path, query))
        cdef _TargetRow row = _TargetRow.__new__(_TargetRow)
        (row.depth, row.url_length, row.query_length, row.non_alnum, row.injection, row.hits, row.probe,
         row.login) = values
        if self.target_rows >= self.target_capacity:
            # `rows` stays usable after the clear: the caller holds it and adds it back.
            self.paths.clear()
            self.target_rows = 0
            self.paths[path] = rows
            rows.plain = None
            rows.by_query = None
        if query is None:
            rows.plain = row
        else:
            if rows.by_query is None:
                rows.by_query = {}
            rows.by_query[query] = row
        self.target_rows += 1
        return row

    cdef _AgentRow agent_row(self, object agent):
        cdef PyObject* found = PyDict_GetItemWithError(self.agents, agent)
        if found != NULL:
            return <_AgentRow>found
        values = self.agent_fn(agent)
        cdef _AgentRow row = _AgentRow.__new__(_AgentRow)
        row.kind, row.strength, row.hits = values
        if len(self.agents) >= self.agent_capacity:
            self.agents.clear()
        self.agents[agent] = row
        return row

    cdef int user_bit(self, object user) except -2:
        if user is None:
            return -1
        cdef PyObject* found = PyDict_GetItemWithError(self.users, user)
        if found != NULL:
            return <object>found
        bit = bit_index(hash_bit(user, USER_BITS))
        if len(self.users) >= self.user_capacity:
            self.users.clear()
        self.users[user] = bit
        return bit

    cdef double body_bytes(self, object size) except? -1.0:
        """Return `min(log1p(size) / log_bytes, 1.0) if size else 0.0`, as stream/features.py computes it."""
        if not size:  # any false value (None, 0, ""), as `if size` in stream/features.py
            return 0.0
        cdef double value = size
        if value <= -1.0:
            raise ValueError("math domain error")  # what math.log1p raises
        value = log1p(value) / self.log_bytes
        return 1.0 if value > 1.0 else value

    cdef double handshake(self, object tags) except? -1.0:
        """Return 1.0 when `tags` holds the handshake or the malformed-request tag, else 0.0."""
        if tags is None or (type(tags) is tuple and len(<tuple>tags) == 0):
            return 0.0
        if tags and (self.handshake_tag in tags or self.malformed_tag in tags):
            return 1.0
        return 0.0


# All clients


@cython.final
cdef class NativeWindows:
    """All tracked clients, LRU-bounded: the compiled `ClientWindows`, with the same attributes and eviction.

    `clients` is an OrderedDict from client to `NativeWindow`, least recently seen first.
    """

    cdef readonly object clients
    cdef public double window_seconds, bucket_seconds, idle_seconds
    cdef public Py_ssize_t max_clients, evicted

    def __init__(self, double window_seconds, Py_ssize_t max_clients, double idle_seconds):
        self.bucket_seconds = window_seconds / N_BUCKETS
        self.window_seconds = window_seconds
        self.max_clients = max_clients
        self.idle_seconds = idle_seconds
        self.clients = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self.clients)

    def get(self, client):
        return self.clients.get(client)

    cdef int make_room(self, double now) except -1:
        """Evict idle clients first (log time), then the least recently seen while full (`ClientWindows._make_room`)."""
        cdef NativeWindow first
        clients = self.clients
        while len(clients):
            oldest_key = next(iter(clients))
            first = <NativeWindow?>clients[oldest_key]
            if now - first.last_seen <= self.idle_seconds and len(clients) < self.max_clients:
                break
            del clients[oldest_key]
            self.evicted += 1
        return 0

    def _make_room(self, double now) -> None:
        self.make_room(now)

    cdef NativeWindow window_for(self, object client, double timestamp, int64_t bucket, object move_to_end):
        """Return the window of `client`, created (after making room) or moved to the LRU end."""
        cdef NativeWindow window
        cdef PyObject* found = PyDict_GetItemWithError(self.clients, client)
        if found == NULL:
            self.make_room(timestamp)
            window = NativeWindow.__new__(NativeWindow)
            window.head = bucket
            window.oldest = bucket
            window.last_seen = timestamp
            self.clients[client] = window
            return window
        window = <NativeWindow?>(<object>found)
        move_to_end(client)
        if timestamp > window.last_seen:
            window.last_seen = timestamp
        return window

    def update(self, client, timestamp, path, user, flags):
        """Add one event (its counter `flags` are slot indexes to increment) and return the window (`ClientWindows.update`)."""
        cdef double now = timestamp
        cdef int64_t bucket = bucket_of(now, self.bucket_seconds)
        cdef NativeWindow window = self.window_for(client, now, bucket, self.clients.move_to_end)
        cdef int64_t slot = slot_for(window, bucket)
        cdef uint32_t totals[N_COUNTERS]
        cdef double values[11]
        increment(window, slot, REQUESTS)
        for flag in flags:
            if not 0 <= flag < N_COUNTERS:
                raise IndexError(f"counter slot {flag!r} is out of range 0..{N_COUNTERS - 1}")
            increment(window, slot, flag)
        mark(
            window,
            slot,
            -1 if path is None else bit_index(reference._PATH_BIT[path]),
            -1 if user is None else bit_index(reference._USER_BIT[user]),
        )
        window_values(window, self.bucket_seconds, totals, values)
        return client_stats(totals, values)

    def update_batch(self, clients, timestamps, paths, users, flag_sets) -> list:
        """Apply `update` to each event in order and return the window after each (`ClientWindows.update_batch`)."""
        return [self.update(*event) for event in zip(clients, timestamps, paths, users, flag_sets, strict=True)]

    def extract_batch(self, list events not None, EventSignals signals not None, double[:, ::1] matrix, double[:, ::1] raw):
        """Fill `matrix[:, :11]` with the per-event features of `events` and `raw` with their window values.

        Then return the `ClientStats` of each event, after it. The per-event features of the whole
        batch are computed before any window changes, as on the Python path, so a batch whose
        signals raise leaves the windows as they were.
        """
        # The loops index the batch without bounds checks while Python code runs (signal helpers, the
        # attribute reads of event objects that are not AccessEvent), so they read a copy that such
        # code cannot shrink.
        cdef tuple batch = tuple(events)
        cdef Py_ssize_t n = len(batch)
        if matrix.shape[0] < n or matrix.shape[1] < 11:
            raise ValueError(f"matrix must have at least {n} rows and 11 columns, got {matrix.shape[0]}x{matrix.shape[1]}")
        if raw.shape[0] < n or raw.shape[1] != 11:
            raise ValueError(f"raw must have at least {n} rows and 11 columns, got {raw.shape[0]}x{raw.shape[1]}")
        cdef Pending* pending = <Pending*>PyMem_Malloc(max(n, 1) * sizeof(Pending))
        if pending == NULL:
            raise MemoryError()
        cdef Py_ssize_t i
        for i in range(n):
            pending[i].client = NULL
        try:
            event_pass(batch, signals, matrix, pending)
            return self.window_pass(pending, n, raw)
        finally:
            for i in range(n):
                Py_XDECREF(pending[i].client)
            PyMem_Free(pending)

    cdef list window_pass(self, Pending* pending, Py_ssize_t n, double[:, ::1] raw):
        cdef Py_ssize_t i
        cdef int counter
        cdef int64_t bucket, slot
        cdef uint8_t counters
        cdef uint32_t totals[N_COUNTERS]
        cdef NativeWindow window
        cdef double bucket_seconds = self.bucket_seconds
        cdef list out = PyList_New(n)
        move_to_end = self.clients.move_to_end
        for i in range(n):
            bucket = bucket_of(pending[i].timestamp, bucket_seconds)
            window = self.window_for(<object>pending[i].client, pending[i].timestamp, bucket, move_to_end)
            slot = slot_for(window, bucket)
            increment(window, slot, REQUESTS)
            counters = pending[i].counters
            counter = 1
            while counters >> counter:
                if counters >> counter & 1:
                    increment(window, slot, counter)
                counter += 1
            mark(window, slot, pending[i].path_bit, pending[i].user_bit)
            window_values(window, bucket_seconds, totals, &raw[i, 0])
            stats = client_stats(totals, &raw[i, 0])
            Py_INCREF(stats)
            PyList_SET_ITEM(out, i, stats)
        return out

    # Conversion and pickling

    @staticmethod
    def from_python(windows) -> NativeWindows:
        """Return native windows holding the same clients, order and counters as a `ClientWindows`."""
        return NativeWindows.from_state(windows.to_state())

    def to_python(self):
        """Return a `ClientWindows` holding the same clients, order and counters."""
        return reference.ClientWindows.from_state(self.to_state())

    def to_state(self) -> dict:
        """Return the windows as plain Python values that either engine restores (`stream.windows.restore_windows`)."""
        cdef NativeWindow window
        cdef uint32_t totals[N_COUNTERS]
        cdef Py_ssize_t n = len(self.clients), k = 0
        heads, oldest, last_seen = array("q", bytes(8 * n)), array("q", bytes(8 * n)), array("d", bytes(8 * n))
        counts = array("I", bytes(4 * N_COUNTS * n))
        paths = array("Q", bytes(8 * N_BUCKETS * PATH_WORDS * n))
        users = array("Q", bytes(8 * N_BUCKETS * n))
        cdef int64_t[::1] heads_view = heads, oldest_view = oldest
        cdef double[::1] seen_view = last_seen
        cdef uint32_t[::1] counts_view = counts
        cdef uint64_t[::1] paths_view = paths, users_view = users
        for window in self.clients.values():
            heads_view[k] = window.head
            oldest_view[k] = window.oldest
            seen_view[k] = window.last_seen
            sum_totals(window, totals)
            memcpy(&counts_view[k * N_COUNTS], window._counts, sizeof(window._counts))
            memcpy(&counts_view[k * N_COUNTS + TOTALS], totals, sizeof(totals))
            memcpy(&paths_view[k * N_BUCKETS * PATH_WORDS], window._paths, sizeof(window._paths))
            if window._users != NULL:
                memcpy(&users_view[k * N_BUCKETS], window._users, N_BUCKETS * sizeof(uint64_t))
            k += 1
        return reference.window_state(self, heads, oldest, last_seen, counts, paths, users)

    @staticmethod
    def from_state(dict state) -> NativeWindows:
        """Return native windows restored from `to_state` output."""
        cdef NativeWindows native = NativeWindows.__new__(NativeWindows)
        cdef NativeWindow window
        cdef Py_ssize_t k
        cdef int slot
        reference.check_state(state)
        clients = state["clients"]
        cdef Py_ssize_t n = len(clients)
        cdef int64_t[::1] heads = state["heads"], oldest = state["oldest"]
        cdef double[::1] last_seen = state["last_seen"]
        cdef uint32_t[::1] counts = state["counts"]
        cdef uint64_t[::1] paths = state["paths"], users = state["users"]
        native.window_seconds = state["window_seconds"]
        native.bucket_seconds = state["bucket_seconds"]
        native.max_clients = state["max_clients"]
        native.idle_seconds = state["idle_seconds"]
        native.evicted = state["evicted"]
        native.clients = OrderedDict()
        for k in range(n):
            window = NativeWindow.__new__(NativeWindow)
            window.head = heads[k]
            window.oldest = oldest[k]
            window.last_seen = last_seen[k]
            # The totals in the state are the sums of the buckets, so they are not read back.
            memcpy(window._counts, &counts[k * N_COUNTS], sizeof(window._counts))
            memcpy(window._paths, &paths[k * N_BUCKETS * PATH_WORDS], sizeof(window._paths))
            for slot in range(N_BUCKETS):
                if users[k * N_BUCKETS + slot]:
                    window._users = <uint64_t*>PyMem_Malloc(N_BUCKETS * sizeof(uint64_t))
                    if window._users == NULL:
                        raise MemoryError()
                    memcpy(window._users, &users[k * N_BUCKETS], N_BUCKETS * sizeof(uint64_t))
                    break
            native.clients[clients[k]] = window
        return native

    def __reduce__(self):
        # Pickled as plain values, restored by a pure-Python function: a snapshot taken with the
        # compiled windows loads where they are not built, as Python windows.
        return reference.restore_windows, (self.to_state(),)


cdef int event_pass(tuple events, EventSignals signals, double[:, ::1] matrix, Pending* pending) except -1:
    """Write the first 11 feature columns of each event and keep what its window update needs."""
    cdef Py_ssize_t i, n = len(events)
    cdef _StatusRow status
    cdef _MethodRow method
    cdef _PathRows path_rows
    cdef _TargetRow target
    cdef _AgentRow agent
    cdef double injection, probe, handshake
    cdef int code
    cdef double* row
    for i in range(n):
        event = events[i]
        status = signals.status_row(event_field(event, STATUS, "http_response_status_code"))
        method = signals.method_row(event_field(event, METHOD, "http_request_method"))
        path = event_field(event, URL_PATH, "url_path")
        path_rows = signals.path_rows(path)
        target = signals.target_row(path_rows, path, event_field(event, URL_QUERY, "url_query"))
        agent = signals.agent_row(event_field(event, AGENT, "user_agent_original"))
        handshake = signals.handshake(event_field(event, TAGS, "tags"))
        probe = target.probe

        row = &matrix[i, 0]
        row[0] = status.status_class
        row[1] = method.level
        row[2] = target.depth
        row[3] = target.url_length
        row[4] = target.query_length
        row[5] = target.non_alnum
        row[6] = signals.body_bytes(event_field(event, BODY_BYTES, "http_response_body_bytes"))
        row[7] = agent.kind
        injection = target.injection
        if agent.kind == signals.scanner_kind:
            injection = injection + agent.strength
            if injection > 1.0:
                injection = 1.0
        row[8] = injection
        row[9] = probe
        row[10] = handshake

        # A failed login: a 401 (already in the status bits), or a 4xx/5xx on a login-like path that is a 403 or a POST.
        code = status.bits
        if status.at_least_400 > 0 and target.login > 0 and (status.is_403 > 0 or method.is_post > 0):
            code |= signals.failed_bit
        if target.hits + agent.hits > 0:
            code |= signals.injection_bit
        if probe > 0:
            code |= signals.probe_bit
        if handshake > 0:
            code |= signals.handshake_bit

        client = event_field(event, SOURCE_IP, "source_ip")
        if not client:
            client = event_field(event, SOURCE_ADDRESS, "source_address")
        Py_INCREF(client)
        pending[i].client = <PyObject*>client
        pending[i].timestamp = event_field(event, TIMESTAMP, "timestamp")
        pending[i].path_bit = path_rows.bit
        pending[i].user_bit = signals.user_bit(event_field(event, USER_NAME, "user_name"))
        pending[i].counters = signals.counters_of_code[code & 0xFF]
    return 0
