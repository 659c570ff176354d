"""Apache/Nginx combined and common log format.

    [vhost:port ]host ident user [time] "request" status bytes ["referrer" "user-agent"] [extra...]

The referrer and user-agent pair is optional, which makes this parser read the
common format as well. Fields after the user agent (request time, upstream
addresses, X-Forwarded-For, `key=value` pairs) are accepted. Only
X-Forwarded-For is read from them, and only when the peer is a trusted proxy.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from stream.events import MAX_BODY_BYTES, AccessEvent
from stream.parsers.base import BaseParser, Item, ParseError, register
from stream.parsers.client import Client, TrustedProxies, apply_forwarded, check_virtual_host, parse_client
from stream.parsers.request import fill_request, unescape
from stream.parsers.timestamps import parse_clf_time, parse_clf_time_fixed

TAG_UNTERMINATED_QUOTE = "unterminated_quote"  # the last quoted field had no closing quote

_QUOTED = r'"({}[^"\\]*(?:\\.[^"\\]*)*)"'
LINE_RE = re.compile(
    r"(?:(?P<vhost>\S+) (?=\S+ \S+ \S+ \[))?"
    r"(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]*)\] "
    + _QUOTED.format("?P<request>")
    + r" (?P<status>\d{3}|-) (?P<bytes>\d+|-)"
    + r"(?: " + _QUOTED.format("?P<referrer>") + " " + _QUOTED.format("?P<agent>") + ")?"
    + r"(?P<extra>.*)",
    re.DOTALL,
)
# The common well-formed line, read with one regex: no vhost, a dd/Mon/yyyy:HH:MM:SS +hhmm time, an
# origin-form request ("GET /path?query HTTP/1.1"), then either nothing (common format) or referrer
# and user agent without backslash escapes and nothing after them. Where it matches, LINE_RE gives
# the same fields, so `parse` builds the same event from either. Every other line goes through LINE_RE.
FAST_LINE_RE = re.compile(
    r"(\S+) (\S+) (\S+) \[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "
    r'"([A-Za-z][A-Za-z0-9_-]*) (/[^\s"\\]*)(?: HTTP/(\d(?:\.\d)?))?" '
    r'(\d{3}|-) (\d+|-)(?: "([^"\\]*)" "([^"\\]*)")?'
)
# The line of elastic apache_logs 8899 kind: the user agent lost its closing quote at the end of the line.
TRUNCATED_AGENT_RE = re.compile(r' "([^"\\]*(?:\\.[^"\\]*)*)" "([^"]*)')
PREFIX_RE = re.compile(r"(?:\S+ )?\S+ \S+ \S+ \[[^\]]*\] ")
SWALLOWED_STATUS_RE = re.compile(r" HTTP/\d(?:\.\d)? \d{3} (?:\d+|-) ")
REQUEST_FIELD_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
ERROR_LOG_RE = re.compile(r"\[\w{3} \w{3} [\d: .]+\] \[|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[")
EXTRA_TOKEN_RE = re.compile(r'\s*(?:([\w.-]+)=)?(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s"]+))')
# The same token, atomic so that a line with an unterminated quote fails fast instead of backtracking.
EXTRAS_RE = re.compile(r'(?>\s*(?:[\w.-]+=)?(?:"[^"\\]*(?:\\.[^"\\]*)*"|[^\s"]+))*+\s*')
ACCEPTED = (
    'accepted: Apache/Nginx combined or common log format, host ident user [time] "request" status bytes'
)
XFF_KEYS = frozenset({"xff", "x_forwarded_for", "http_x_forwarded_for", "x-forwarded-for", "forwarded_for"})


@register("combined", "common", "clf", "apache", "nginx", "vhost_combined")
class CombinedParser(BaseParser):
    name = "combined"

    def __init__(self, trusted_proxies: TrustedProxies | None = None, **_: Any) -> None:
        self.proxies = trusted_proxies or TrustedProxies()

    def sniff(self, sample: list[Item]) -> float:
        if not sample:
            return 0.0
        hits = sum(1 for item in sample if isinstance(item, str) and LINE_RE.match(item))
        return hits / len(sample)

    def parse(self, item: Item, line: int) -> AccessEvent:
        if not isinstance(item, str):
            raise ParseError(f"expected a text line, got a {type(item).__name__}; {ACCEPTED}")
        fast = FAST_LINE_RE.fullmatch(item)
        if fast is not None:
            event = _build_common_event(fast, line)
            if event is not None:
                return event
        return self.parse_general(item, line)

    def parse_general(self, item: str, line: int) -> AccessEvent:
        """Parse any combined or common line with LINE_RE (the path for lines FAST_LINE_RE does not take)."""
        match = LINE_RE.match(item)
        if match is None:
            raise ParseError(diagnose(item))
        client = parse_client(match["host"])
        if match["vhost"] is not None:
            check_virtual_host(match["vhost"], client)
        event = _build_event(match, client, line)

        agent = match["agent"]
        extra = match["extra"]
        if agent is None and extra and not extra.isspace():
            _recover_agent(event, extra)
        if match["vhost"] is not None and event.url_domain is None:
            event.url_domain = match["vhost"].rpartition(":")[0] or match["vhost"]
        if self.proxies and extra and client.ip is not None and self.proxies.contains(client.ip):
            apply_forwarded(event, self.proxies, find_forwarded_for(extra))
        return event


def _build_event(match: re.Match[str], client: Client, line: int) -> AccessEvent:
    status, size, user = match["status"], match["bytes"], match["user"]
    referrer, agent = match["referrer"], match["agent"]
    event = AccessEvent(
        timestamp=parse_clf_time(match["time"]),
        source_address=client.address,
        source_ip=client.ip,
        source_port=client.port,
        http_response_status_code=None if status == "-" else int(status),
        http_response_body_bytes=None if size == "-" else _body_bytes(size),
        user_name=None if user == "-" else unescape(user),
        http_request_referrer=None if referrer is None or referrer == "-" else unescape(referrer),
        user_agent_original=None if agent is None or agent == "-" else unescape(agent),
        line=line,
    )
    fill_request(event, unescape(match["request"]))
    return event


def _build_common_event(match: re.Match[str], line: int) -> AccessEvent | None:
    """Build the event of a FAST_LINE_RE match, or return None for a target that needs `split_target`."""
    host, _, user, moment, method, target, version, status, size, referrer, agent = match.groups()
    if target.find("://", 0, 16) > 0:
        return None  # `/x://y` is read as an absolute URL by split_target
    if len(size) > 18:
        return None  # `parse_general` checks a count this long against MAX_BODY_BYTES
    client = parse_client(host)
    timestamp = parse_clf_time_fixed(moment)
    path, sep, query = target.partition("?")
    return AccessEvent(
        timestamp,
        client.address,
        client.ip,
        method,
        path,
        query if sep else None,
        version,
        _STATUS_CODES[status],
        None if size == "-" else int(size),
        None if referrer is None or referrer == "-" else referrer,
        None if agent is None or agent == "-" else agent,
        None if user == "-" else unescape(user),
        None,
        client.port,
        None,
        line,
    )


def _body_bytes(digits: str) -> int:
    # 19 digits reach MAX_BODY_BYTES; longer strings are never converted (`int` rejects 4,300+ digits).
    if len(digits) <= 19:
        value = int(digits)
        if value <= MAX_BODY_BYTES:
            return value
    shown = digits if len(digits) <= 40 else f"{digits[:20]}… ({len(digits)} digits)"
    raise ParseError(f"invalid byte count {shown}: over {MAX_BODY_BYTES}, the largest body size accepted")


# The status of a FAST_LINE_RE match (three digits or "-") as the event stores it, looked up rather than parsed.
_STATUS_CODES: dict[str, int | None] = {f"{code:03d}": code for code in range(1000)}
_STATUS_CODES["-"] = None


def _recover_agent(event: AccessEvent, extra: str) -> None:
    """Fill referrer and user agent when the user agent, the last field, lost its closing quote."""
    if not extra.startswith(' "') and EXTRAS_RE.fullmatch(extra):
        return  # common format followed by well-formed extra fields
    truncated = TRUNCATED_AGENT_RE.fullmatch(extra)
    if truncated is None:
        raise ParseError(
            "unbalanced quotes after the byte count: only a user agent that is the last field "
            'may lack its closing quote; expected "referrer" "user-agent"'
        )
    referrer, agent = truncated.groups()
    event.http_request_referrer = None if referrer == "-" else unescape(referrer)
    event.user_agent_original = agent or None
    event.tags = (*event.tags, TAG_UNTERMINATED_QUOTE)


def find_forwarded_for(extra: str) -> str | None:
    """Return the X-Forwarded-For value among the fields after the user agent, if any.

    A `xff=`-style key wins. Otherwise the first quoted field that is `-` or a
    list of IP addresses is taken, as in nginx's `main` format.
    NOTE: a format that quotes `$upstream_addr` before X-Forwarded-For would be misread.
    """
    quoted: list[str] = []
    for key, quoted_value, bare in EXTRA_TOKEN_RE.findall(extra):
        value = quoted_value or bare
        if key and key.lower() in XFF_KEYS:
            return value
        if not key and quoted_value:
            quoted.append(quoted_value)
    for value in quoted:
        if value == "-":
            return None
        if all(_is_ip_entry(entry) for entry in value.split(",")):
            return value
    return None


def _is_ip_entry(entry: str) -> bool:
    try:
        return parse_client(entry.strip()).ip is not None
    except ParseError:
        return False


def diagnose(item: str) -> str:
    """Explain why a line is not in combined or common format."""
    if not item.strip():
        return f"empty line; {ACCEPTED}"
    if item.startswith(("\x1f\x8b", "\\x1f\\x8b", "\x1f\\x8b")):
        return f"looks like gzip-compressed data; decompress the log before sending it; {ACCEPTED}"
    if ERROR_LOG_RE.match(item):
        return f"looks like an Apache/Nginx error log line, not an access log; {ACCEPTED}"
    prefix = PREFIX_RE.match(item)
    if prefix is None:
        return f"the line does not start with 'host ident user [time] '; {ACCEPTED}"
    rest = item[prefix.end() :]
    if not rest.startswith('"'):
        return f'expected a quoted "request" after [time]; {ACCEPTED}'
    request = REQUEST_FIELD_RE.match(rest)
    if request is None:
        return f'the "request" field has no closing quote; {ACCEPTED}'
    if SWALLOWED_STATUS_RE.search(request.group()):
        return f'the "request" field has no closing quote: status and byte count are inside it; {ACCEPTED}'
    fields = rest[request.end() :].split(" ", 3)
    status = fields[1] if len(fields) > 1 else ""
    if not (status == "-" or (len(status) == 3 and status.isdigit())):
        return f"invalid status code {status!r}: expected 3 digits or '-'; {ACCEPTED}"
    size = fields[2] if len(fields) > 2 else ""
    if not (size == "-" or size.isdigit()):
        return f"invalid byte count {size!r}: expected a non-negative integer or '-'; {ACCEPTED}"
    return ACCEPTED


def format_combined(event: AccessEvent) -> str:
    """Write an event as one combined log line (the inverse of `CombinedParser.parse`)."""
    moment = datetime.fromtimestamp(event.timestamp, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    host = event.source_address
    if event.source_port is not None:
        host = f"[{host}]:{event.source_port}" if ":" in host else f"{host}:{event.source_port}"
    target = (event.url_path or "") + ("" if event.url_query is None else "?" + event.url_query)
    if event.url_domain is not None:
        target = f"http://{event.url_domain}{target}"
    request = " ".join(
        part
        for part in (event.http_request_method, target, event.http_version and "HTTP/" + event.http_version)
        if part
    )
    return (
        f"{host} - {_dash(event.user_name)} [{moment}] \"{_escape(request)}\" "
        f"{_dash(event.http_response_status_code)} {_dash(event.http_response_body_bytes)} "
        f"\"{_escape(_dash(event.http_request_referrer))}\" \"{_escape(_dash(event.user_agent_original))}\""
    )


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
