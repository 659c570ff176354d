# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The common combined/common log line, read by a character scanner instead of FAST_LINE_RE.

`parse_common_lines` returns, for each item, the event `CombinedParser.parse` builds through its
FAST_LINE_RE path, or None where the caller must run the Python parser. None is also returned,
conservatively, for a few lines the regex accepts: those with a non-ASCII decimal digit where the
grammar reads `\\d`.
The scanner follows FAST_LINE_RE with the `re` semantics of str patterns: `\\s` is any character
for which `str.isspace()` is true, `Py_UNICODE_ISSPACE` in C, as in CPython's `_sre`.
"""

from cpython.long cimport PyLong_FromLongLong
from cpython.unicode cimport Py_UNICODE_ISSPACE, PyUnicode_DATA, PyUnicode_KIND, PyUnicode_Substring
from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memchr

from stream.events import AccessEvent
from stream.parsers.client import parse_client
from stream.parsers.combined import _STATUS_CODES
from stream.parsers.request import unescape
from stream.parsers.timestamps import parse_clf_time_fixed


cdef extern from "Python.h":
    int PyUnicode_READY(object text)  # 0, or -1 with an exception set (legacy strings only)
    void PyErr_Clear()


ctypedef fused char_t:
    uint8_t
    uint16_t
    uint32_t


# Caches of the two costly conversions. Both are emptied when full, which bounds their memory.
cdef Py_ssize_t _MAX_ENTRIES = 65_536
MAX_CACHE_ENTRIES = _MAX_ENTRIES
# A longer client field is no host name (at most 253 characters) nor a bracketed IPv6 address with zone
# and port, so it is parsed without being cached here (parse_client keeps its own bounded cache).
cdef Py_ssize_t _MAX_CACHED_HOST = 255

cdef dict _clients = {}  # client field -> the Client that parse_client returns
cdef dict _day_starts = {}  # "dd/Mon/yyyy +hhmm" -> UTC epoch of that local midnight, as a float

# The day of the previous line, because consecutive lines nearly always share it.
cdef str _last_day = None  # "dd/Mon/yyyy +hhmm"
cdef double _last_day_start = 0.0

cdef list _status_values = [_STATUS_CODES[f"{code:03d}"] for code in range(1000)]
cdef str _ONE_ONE = "1.1"
cdef str _ONE_ZERO = "1.0"
cdef str _GET = "GET"


# Character classes of one-byte (Latin-1) strings, from str.isspace so that they match `re`'s `\\s`.
cdef uint8_t[256] _SPACE
cdef uint8_t[256] _TARGET_STOP  # 1 ends the target (whitespace, '"', backslash), 2 is "?"
for _code in range(256):
    _SPACE[_code] = chr(_code).isspace()
    _TARGET_STOP[_code] = 1 if chr(_code).isspace() or chr(_code) in '"\\' else 2 if chr(_code) == "?" else 0

# Offsets of the digits in `dd/Mon/yyyy:HH:MM:SS +hhmm`.
cdef int[16] _TIME_DIGITS = [0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25]


cdef struct Fields:
    Py_ssize_t host_end
    Py_ssize_t user_start
    Py_ssize_t user_end
    bint user_dash
    bint user_backslash
    Py_ssize_t time_start  # index of the first digit of dd/Mon/yyyy
    int hour
    int minute
    int second
    bint same_day  # the date and UTC offset are those of `_last_day`
    double day_start  # `_last_day_start` when `same_day`, read with it in case another thread moves the memo
    Py_ssize_t method_start
    Py_ssize_t method_end
    Py_ssize_t target_start
    Py_ssize_t target_end
    Py_ssize_t query_mark  # index of the first "?" in the target, or -1
    Py_ssize_t version_start  # -1 when the request has no " HTTP/x" part
    Py_ssize_t version_end
    int status  # 0-999, or -1 for "-"
    Py_ssize_t size_start  # -1 for "-"
    Py_ssize_t size_end
    Py_ssize_t referrer_start  # -1 in the common format (no referrer and user agent)
    Py_ssize_t referrer_end
    Py_ssize_t agent_start
    Py_ssize_t agent_end


cdef inline bint _is_digit(uint32_t c) noexcept:
    return 48 <= c <= 57  # ASCII only: other decimal digits make the line go to the Python parser


cdef inline bint _is_letter(uint32_t c) noexcept:
    return (65 <= c <= 90) or (97 <= c <= 122)


cdef inline bint _is_space(char_t c) noexcept:
    if char_t is uint8_t:
        return _SPACE[c]
    else:
        return Py_UNICODE_ISSPACE(c)


cdef inline Py_ssize_t _skip_token(const char_t* s, Py_ssize_t pos, Py_ssize_t n) noexcept:
    """Return the index after the run of non-whitespace characters (`\\S+`) that starts at `pos`."""
    while pos < n and not _is_space(s[pos]):
        pos += 1
    return pos


cdef inline Py_ssize_t _find_quote(const char_t* s, Py_ssize_t pos, Py_ssize_t n) noexcept:
    """Return the index of the first '"' or backslash at or after `pos` (`[^"\\\\]*`), or `n`."""
    cdef const uint8_t* quote
    cdef Py_ssize_t end
    if char_t is uint8_t:
        quote = <const uint8_t*>memchr(s + pos, c'"', n - pos)
        end = n if quote is NULL else quote - s
        quote = <const uint8_t*>memchr(s + pos, c"\\", end - pos)
        return end if quote is NULL else quote - s
    else:
        while pos < n and s[pos] != c'"' and s[pos] != c"\\":
            pos += 1
        return pos


cdef inline int _two_digits(const char_t* s, Py_ssize_t pos) noexcept:
    return (s[pos] - 48) * 10 + (s[pos + 1] - 48)


cdef bint _scan_time(const char_t* s, Py_ssize_t t, Fields* f) noexcept:
    """Check `dd/Mon/yyyy:HH:MM:SS +hhmm` at `t`; the caller has checked that 26 characters remain."""
    cdef int k
    cdef const uint8_t* key
    for k in range(16):
        if not _is_digit(s[t + _TIME_DIGITS[k]]):
            return False
    if not (_is_letter(s[t + 3]) and _is_letter(s[t + 4]) and _is_letter(s[t + 5])):
        return False
    if s[t + 2] != c"/" or s[t + 6] != c"/" or s[t + 11] != c":" or s[t + 14] != c":" or s[t + 17] != c":":
        return False
    if s[t + 20] != c" " or (s[t + 21] != c"+" and s[t + 21] != c"-"):
        return False
    f.time_start = t
    f.hour = _two_digits(s, t + 12)
    f.minute = _two_digits(s, t + 15)
    f.second = _two_digits(s, t + 18)

    # The day key is the date (11 characters) then the offset with its leading space (6 characters).
    f.same_day = _last_day is not None
    if f.same_day:
        key = <const uint8_t*>PyUnicode_DATA(_last_day)  # ASCII, one byte per character
        for k in range(11):
            if s[t + k] != key[k]:
                f.same_day = False
                break
        else:
            for k in range(6):
                if s[t + 20 + k] != key[11 + k]:
                    f.same_day = False
                    break
    f.day_start = _last_day_start
    return True


cdef bint _scan_request(const char_t* s, Py_ssize_t pos, Py_ssize_t n, Fields* f) noexcept:
    """Check `METHOD /target[ HTTP/d[.d]]"` at `pos`, then the rest of the line."""
    cdef uint32_t c
    cdef uint8_t stop
    cdef Py_ssize_t k, scheme_end

    # Method: [A-Za-z][A-Za-z0-9_-]* then one space.
    f.method_start = pos
    if pos >= n or not _is_letter(s[pos]):
        return False
    pos += 1
    while pos < n:
        c = s[pos]
        if not (_is_letter(c) or _is_digit(c) or c == c"_" or c == c"-"):
            break
        pos += 1
    if pos >= n or s[pos] != c" ":
        return False
    f.method_end = pos
    pos += 1

    # Target: "/" then [^\s"\\]*.
    if pos >= n or s[pos] != c"/":
        return False
    f.target_start = pos
    f.query_mark = -1
    pos += 1
    if char_t is uint8_t:
        while pos < n:
            stop = _TARGET_STOP[s[pos]]
            if stop == 1:
                break
            if stop == 2 and f.query_mark < 0:
                f.query_mark = pos
            pos += 1
    else:
        while pos < n:
            c = s[pos]
            if c == c'"' or c == c"\\" or Py_UNICODE_ISSPACE(c):
                break
            if c == c"?" and f.query_mark < 0:
                f.query_mark = pos
            pos += 1
    f.target_end = pos

    # A "://" within the first 16 characters makes `split_target` read an absolute URL, which this
    # path does not build (`_build_common_event` returns None for it).
    scheme_end = f.target_start + 16
    if scheme_end > f.target_end:
        scheme_end = f.target_end
    for k in range(f.target_start + 1, scheme_end - 2):
        if s[k] == c":" and s[k + 1] == c"/" and s[k + 2] == c"/":
            return False

    # Optional " HTTP/d" or " HTTP/d.d", then the closing quote.
    f.version_start = -1
    if pos < n and s[pos] == c" ":
        if pos + 8 > n:
            return False
        if s[pos + 1] != c"H" or s[pos + 2] != c"T" or s[pos + 3] != c"T" or s[pos + 4] != c"P" or s[pos + 5] != c"/":
            return False
        if not _is_digit(s[pos + 6]):
            return False
        f.version_start = pos + 6
        if s[pos + 7] == c'"':
            pos += 7
        elif pos + 10 <= n and s[pos + 7] == c"." and _is_digit(s[pos + 8]) and s[pos + 9] == c'"':
            pos += 9
        else:
            return False
        f.version_end = pos
    if pos >= n or s[pos] != c'"':
        return False
    pos += 1
    return _scan_tail(s, pos, n, f)


cdef bint _scan_tail(const char_t* s, Py_ssize_t pos, Py_ssize_t n, Fields* f) noexcept:
    """Check ` status bytes` and the optional ` "referrer" "agent"` up to the end of the line."""
    # Status: three digits or "-".
    if pos + 2 > n or s[pos] != c" ":
        return False
    pos += 1
    if s[pos] == c"-":
        f.status = -1
        pos += 1
    elif pos + 3 <= n and _is_digit(s[pos]) and _is_digit(s[pos + 1]) and _is_digit(s[pos + 2]):
        f.status = (s[pos] - 48) * 100 + (s[pos + 1] - 48) * 10 + (s[pos + 2] - 48)
        pos += 3
    else:
        return False

    # Byte count: digits or "-".
    if pos + 2 > n or s[pos] != c" ":
        return False
    pos += 1
    if s[pos] == c"-":
        f.size_start = -1
        pos += 1
    else:
        f.size_start = pos
        while pos < n and _is_digit(s[pos]):
            pos += 1
        if pos == f.size_start:
            return False
        f.size_end = pos

    f.referrer_start = -1
    if pos == n:
        return True  # common format

    # ' "referrer" "agent"' without backslashes, which must end the line.
    if pos + 2 > n or s[pos] != c" " or s[pos + 1] != c'"':
        return False
    pos += 2
    f.referrer_start = pos
    pos = _find_quote(s, pos, n)
    if pos + 3 > n or s[pos] != c'"' or s[pos + 1] != c" " or s[pos + 2] != c'"':
        return False
    f.referrer_end = pos
    pos += 3
    f.agent_start = pos
    pos = _find_quote(s, pos, n)
    if pos != n - 1 or s[pos] != c'"':
        return False
    f.agent_end = pos
    return True


cdef bint _scan(const char_t* s, Py_ssize_t n, Fields* f) noexcept:
    """Check the first `n` characters against FAST_LINE_RE and record where each field is."""
    cdef Py_ssize_t pos, start

    # host ident user, each \S+ followed by one space.
    pos = _skip_token(s, 0, n)
    if pos == 0 or pos >= n or s[pos] != c" ":
        return False
    f.host_end = pos
    start = pos + 1
    pos = _skip_token(s, start, n)
    if pos == start or pos >= n or s[pos] != c" ":
        return False
    start = pos + 1
    pos = start
    f.user_backslash = False
    while pos < n and not _is_space(s[pos]):
        if s[pos] == c"\\":
            f.user_backslash = True
        pos += 1
    if pos == start or pos >= n or s[pos] != c" ":
        return False
    f.user_start = start
    f.user_end = pos
    f.user_dash = pos - start == 1 and s[start] == c"-"
    pos += 1

    # "[" time '] "', 30 characters.
    if pos + 30 > n or s[pos] != c"[":
        return False
    if not _scan_time(s, pos + 1, f):
        return False
    pos += 27
    if s[pos] != c"]" or s[pos + 1] != c" " or s[pos + 2] != c'"':
        return False
    return _scan_request(s, pos + 3, n, f)


cdef object _client_of(str host):
    """Return the Client for a client field, or None where parse_client raises."""
    cdef bint cacheable = len(host) <= _MAX_CACHED_HOST
    if cacheable:
        client = _clients.get(host)
        if client is not None:
            return client
    try:
        client = parse_client(host)
    except Exception:  # ParseError, or anything else: the Python parser reports it
        return None
    if cacheable:
        if len(_clients) >= _MAX_ENTRIES:
            _clients.clear()
        _clients[host] = client
    return client


cdef bint _day_start_of(str text, Fields* f, double* start):
    """Set `start` to the epoch of the line's local midnight; return False where the date is invalid."""
    global _last_day, _last_day_start
    cdef Py_ssize_t t = f.time_start
    if f.same_day:
        start[0] = f.day_start
        return True
    date = PyUnicode_Substring(text, t, t + 11)
    offset = PyUnicode_Substring(text, t + 20, t + 26)
    day = date + offset
    value = _day_starts.get(day)
    if value is None:
        try:
            # parse_clf_time_fixed of midnight is the day start plus 0, so exactly what it adds the time to.
            value = parse_clf_time_fixed(date + ":00:00:00" + offset)
        except Exception:  # ParseError for an invalid date, month or offset
            return False
        if len(_day_starts) >= _MAX_ENTRIES:
            _day_starts.clear()
        _day_starts[day] = value
    _last_day = day
    _last_day_start = value
    start[0] = _last_day_start
    return True


cdef object _size_of(str text, Fields* f):
    """Return the byte count as an int, None for "-", or False for more than 18 digits.

    Longer counts go to the Python parser, which checks them against MAX_BODY_BYTES, as
    `_build_common_event` does.
    """
    cdef long long value = 0
    cdef Py_ssize_t k
    if f.size_start < 0:
        return None
    if f.size_end - f.size_start > 18:
        return False
    for k in range(f.size_start, f.size_end):
        value = value * 10 + (<Py_ssize_t>text[k] - 48)
    return PyLong_FromLongLong(value)


cdef object _build(str text, Fields* f, object line):
    """Build the event of a scanned line as `_build_common_event` does, or return None."""
    cdef double timestamp = 0.0

    client = _client_of(PyUnicode_Substring(text, 0, f.host_end))
    if client is None:
        return None
    if f.hour > 23 or f.minute > 59 or f.second > 60:  # 60 is a leap second
        return None
    if not _day_start_of(text, f, &timestamp):
        return None
    # The order of parse_clf_time_fixed's additions, so that rounding is the same.
    timestamp = timestamp + <double>(f.hour * 3600)
    timestamp = timestamp + <double>(f.minute * 60)
    timestamp = timestamp + <double>f.second
    timestamp = timestamp + 0.0

    size = _size_of(text, f)
    if size is False:
        return None

    if f.user_dash:
        user = None
    else:
        user = PyUnicode_Substring(text, f.user_start, f.user_end)
        if f.user_backslash:
            user = unescape(user)

    if f.method_end - f.method_start == 3 and text[f.method_start] == "G" and text[f.method_start + 1] == "E" \
            and text[f.method_start + 2] == "T":
        method = _GET  # shared, as most requests are GETs
    else:
        method = PyUnicode_Substring(text, f.method_start, f.method_end)

    if f.query_mark < 0:
        path = PyUnicode_Substring(text, f.target_start, f.target_end)
        query = None
    else:
        path = PyUnicode_Substring(text, f.target_start, f.query_mark)
        query = PyUnicode_Substring(text, f.query_mark + 1, f.target_end)

    if f.version_start < 0:
        version = None
    elif f.version_end - f.version_start == 3 and text[f.version_start] == "1" and text[f.version_start + 2] == "1":
        version = _ONE_ONE
    elif f.version_end - f.version_start == 3 and text[f.version_start] == "1" and text[f.version_start + 2] == "0":
        version = _ONE_ZERO
    else:
        version = PyUnicode_Substring(text, f.version_start, f.version_end)

    referrer = agent = None
    if f.referrer_start >= 0:
        if not (f.referrer_end - f.referrer_start == 1 and text[f.referrer_start] == "-"):
            referrer = PyUnicode_Substring(text, f.referrer_start, f.referrer_end)
        if not (f.agent_end - f.agent_start == 1 and text[f.agent_start] == "-"):
            agent = PyUnicode_Substring(text, f.agent_start, f.agent_end)

    status = None if f.status < 0 else _status_values[f.status]
    address, ip, port = <tuple>client
    return AccessEvent(
        timestamp, address, ip, method, path, query, version, status, size, referrer, agent, user, None, port,
        None, line
    )


cdef object _parse_one(object item, Py_ssize_t max_chars, object first_line, Py_ssize_t index):
    cdef Fields f
    cdef Py_ssize_t n
    cdef str text
    cdef int kind
    cdef bint matched
    if type(item) is not str:
        return None
    text = <str>item
    if PyUnicode_READY(text) < 0:
        PyErr_Clear()
        return None

    # The end-of-line stripping of parse_batch: one "\n", then one "\r".
    n = len(text)
    if n > 0 and text[n - 1] == "\n":
        n -= 1
    if n > 0 and text[n - 1] == "\r":
        n -= 1
    if n > max_chars:
        return None

    kind = PyUnicode_KIND(text)
    if kind == 1:
        matched = _scan(<const uint8_t*>PyUnicode_DATA(text), n, &f)
    elif kind == 2:
        matched = _scan(<const uint16_t*>PyUnicode_DATA(text), n, &f)
    else:
        matched = _scan(<const uint32_t*>PyUnicode_DATA(text), n, &f)
    if not matched:
        return None
    return _build(text, &f, first_line + index)


def parse_common_lines(items, first_line, Py_ssize_t max_chars):
    """Parse each item that FAST_LINE_RE takes; return a list as long as `items`, None where not taken.

    Element i is the event `CombinedParser().parse(items[i], first_line + i)` returns, for an
    exact `str` of at most `max_chars` characters once one trailing "\\n" and then one "\\r" are
    stripped. Element i is None for any other item, for a line FAST_LINE_RE rejects, and for a
    line whose client or time fields make the Python parser raise. Nothing in an item makes it
    raise.
    """
    cdef tuple snapshot = tuple(items)  # the Python calls below cannot change what is iterated
    cdef Py_ssize_t count = len(snapshot)
    cdef Py_ssize_t index
    cdef list results = [None] * count
    for index in range(count):
        results[index] = _parse_one(snapshot[index], max_chars, first_line, index)
    return results


def cache_sizes():
    """Return the number of entries in the client cache and in the day cache."""
    return len(_clients), len(_day_starts)


def clear_caches():
    """Empty both caches and forget the previous line's day."""
    global _last_day
    _clients.clear()
    _day_starts.clear()
    _last_day = None
