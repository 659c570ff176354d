"""Site-wide evidence shared through Redis, so every worker's decision agent sees the whole site.

The decision agent keeps two kinds of site-wide state: the flood baseline
(`SiteBaseline`, the median rate across active clients) and the failed logins
per login endpoint (`LoginTracker`). In one process they see every client. A
worker sees only its partitions' clients, so this module backs both with Redis:

| key | type | content |
|---|---|---|
| `centinela:site:seen` | sorted set | client by the log time of its latest request |
| `centinela:site:rates` | hash | client to its latest requests/min |
| `centinela:site:login:{ep}` | sorted set | one member per failed login on endpoint `ep`, by log time |

`{ep}` is a hash of the endpoint path, so attacker-controlled text stays out
of key names. A member is the login's token (stream entry and position, so a
replayed chunk writes the same members again), client and user name.

Writes wait in memory and go out with the chunk's reply pipeline
(`SharedSite.flush`). Reads happen at most once per chunk per endpoint, and
for the baseline at most once per chunk and refresh period. A worker
therefore sees its own partition exactly and the other partitions as of
their last processed chunk: site-wide evidence lags by at most one chunk.
Counts cover the failed logins with a log time in `[now - window, now]`,
so a later chunk of another partition does not leak later logins into this
one's evidence. Counting reads every failed login of the endpoint in the
window inside Redis (a Lua script), which is bounded by the window's
traffic and runs at most once per chunk and endpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import ipaddress
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from agents.decision import DecisionAgent, EndpointWindow, LoginTracker, SiteBaseline

MIN_KEY_TTL_SECONDS = 3600  # wall-clock lifetime of a login key; log time may run slower than the wall clock
SEPARATOR = "\x1f"  # between token, client and user name in a failed-login member

# KEYS: seen, rates. ARGV: cutoff (log time), min_clients, max_clients.
# Drops clients idle since before the cutoff, keeps the newest max_clients, returns {count, median or false}.
_MEDIAN = """
local cutoff, min_clients, max_clients = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local function drop(members)
    for i = 1, #members, 5000 do
        redis.call('HDEL', KEYS[2], unpack(members, i, math.min(i + 4999, #members)))
    end
end
drop(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. cutoff))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. cutoff)
local extra = redis.call('ZCARD', KEYS[1]) - max_clients
if extra > 0 then
    drop(redis.call('ZRANGE', KEYS[1], 0, extra - 1))
    redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1)
end
local clients = redis.call('ZRANGE', KEYS[1], 0, -1)
if #clients < min_clients or #clients == 0 then
    return {#clients, false}
end
local rates = {}
for i = 1, #clients, 5000 do
    local part = redis.call('HMGET', KEYS[2], unpack(clients, i, math.min(i + 4999, #clients)))
    for _, rate in ipairs(part) do
        if rate then rates[#rates + 1] = tonumber(rate) end
    end
end
if #rates < min_clients or #rates == 0 then
    return {#rates, false}
end
table.sort(rates)
local middle = math.floor(#rates / 2)
local median
if #rates % 2 == 1 then median = rates[middle + 1] else median = (rates[middle] + rates[middle + 1]) / 2 end
return {#rates, string.format('%.17g', median)}
"""

# KEYS: the endpoint's sorted set. ARGV: from, to (log times), forget (older members are deleted), partition.
# Returns {failed logins, distinct clients, distinct user names} of the other partitions, log time in [from, to].
_LOGIN_COUNTS = r"""
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local members = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
local clients, users = {}, {}
local failed, distinct_clients, distinct_users = 0, 0, 0
for _, member in ipairs(members) do
    local partition, client, user = string.match(member, '^([^\31]*)\31[^\31]*\31([^\31]*)\31(.*)$')
    if partition and partition ~= ARGV[4] then
        failed = failed + 1
        if not clients[client] then clients[client] = true; distinct_clients = distinct_clients + 1 end
        if not users[user] then users[user] = true; distinct_users = distinct_users + 1 end
    end
end
return {failed, distinct_clients, distinct_users}
"""


class SharedSite:
    """The Redis connection, the per-chunk read guard and the writes waiting for the next flush."""

    def __init__(self, client: redis.Redis, prefix: str, window: float, partition: int) -> None:
        self.client = client
        self.partition = str(partition)
        self.prefix = f"{prefix}:site"
        self.window = window
        self.key_ttl = int(max(2 * window, MIN_KEY_TTL_SECONDS))
        self._median = client.register_script(_MEDIAN)
        self._login_counts = client.register_script(_LOGIN_COUNTS)
        self.rates: dict[str, tuple[float, float]] = {}
        self.logins: dict[str, dict[str, float]] = {}  # endpoint -> member -> log time
        self.chunk = 0  # number of the chunk being processed; reads remember the chunk they were made in
        self._entry = ""
        self._tokens = 0

    @contextlib.contextmanager
    def processing(self, entry_id: str) -> Iterator[None]:
        """Mark one chunk (stream entry `entry_id`): shared values read inside are read again in the next one."""
        self.chunk += 1
        self._entry = entry_id
        self._tokens = 0
        yield

    def token(self) -> str:
        """Name the next failed login of the chunk; a replayed chunk gives the same names, so it counts once."""
        self._tokens += 1
        return f"{self._entry}:{self._tokens}"

    @property
    def seen_key(self) -> str:
        return f"{self.prefix}:seen"

    @property
    def rates_key(self) -> str:
        return f"{self.prefix}:rates"

    def login_key(self, endpoint: str) -> str:
        digest = hashlib.blake2b(endpoint.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
        return f"{self.prefix}:login:{digest}"

    def failed_login(self, endpoint: str, now: float, client: str, user: str) -> None:
        """Queue one failed login for the next flush."""
        member = SEPARATOR.join((self.partition, self.token(), client, user))
        self.logins.setdefault(endpoint, {})[member] = now

    def flush(self, pipe: redis.client.Pipeline) -> None:
        """Queue the waiting writes on `pipe` (the caller executes it) and forget them."""
        if self.rates:
            pipe.zadd(self.seen_key, {client: seen for client, (seen, _) in self.rates.items()}, gt=True)
            pipe.hset(self.rates_key, mapping={client: repr(rate) for client, (_, rate) in self.rates.items()})
            self.rates = {}
        for endpoint, members in self.logins.items():
            key = self.login_key(endpoint)
            pipe.zadd(key, members)
            pipe.expire(key, self.key_ttl)
        self.logins = {}

    def median(self, now: float, min_clients: int, max_clients: int) -> tuple[int, float | None]:
        """Write the waiting updates, then return the active clients and their median rate (None below the minimum)."""
        pipe = self.client.pipeline(transaction=False)
        self.flush(pipe)
        args = [repr(now - self.window), min_clients, max_clients]
        self._median(keys=[self.seen_key, self.rates_key], args=args, client=pipe)
        count, median = pipe.execute()[-1]
        return int(count), None if median is None else float(median)

    def clients_in(self, cidr: str, now: float) -> int:
        """Count the clients active within the window, in every partition, that lie inside `cidr`."""
        network = ipaddress.ip_network(cidr)
        members = self.client.zrangebyscore(self.seen_key, repr(now - self.window), "+inf")
        count = 0
        for member in members:
            try:
                if ipaddress.ip_address(member.decode()) in network:
                    count += 1
            except ValueError:
                continue
        return count

    def login_counts(self, endpoint: str, now: float) -> tuple[int, int, int]:
        """Write the waiting failed logins, then return the other partitions' counts in the window up to `now`."""
        pipe = self.client.pipeline(transaction=False)
        self.flush(pipe)
        args = [repr(now - self.window), repr(now), repr(now - 2 * self.window), self.partition]
        self._login_counts(keys=[self.login_key(endpoint)], args=args, client=pipe)
        failed, clients, users = pipe.execute()[-1]
        return int(failed), int(clients), int(users)


class RedisSiteBaseline(SiteBaseline):
    """`SiteBaseline` whose median covers the active clients of every partition."""

    def __init__(self, local: SiteBaseline, site: SharedSite) -> None:
        super().__init__(local._window, local._max_clients, local._refresh, local._min_clients)
        self._rates = local._rates
        self._site = site
        self._read_in = -1
        self._latest = float("-inf")

    def update(self, client: str, now: float, rate: float) -> None:
        super().update(client, now, rate)
        self._site.rates[client] = (now, rate)
        if now > self._latest:
            self._latest = now

    def median(self, now: float) -> float | None:
        if now - self._computed_at < self._refresh or self._read_in == self._site.chunk:
            return self._median
        self._expire(now)
        self._computed_at = now
        self._read_in = self._site.chunk
        _, self._median = self._site.median(now, self._min_clients, self._max_clients)
        return self._median

    def clients_in(self, cidr: str) -> int:
        return max(self._site.clients_in(cidr, self._latest), super().clients_in(cidr))

    def plain(self) -> SiteBaseline:
        """Return the in-memory baseline with this partition's clients, for a snapshot."""
        baseline = SiteBaseline(self._window, self._max_clients, self._refresh, self._min_clients)
        baseline._rates = self._rates
        return baseline


@dataclass(slots=True)
class SharedEndpointWindow(EndpointWindow):
    """An endpoint window whose `counts` are site-wide: this partition's exact window plus the other partitions'.

    The other partitions' counts are those read from Redis at the first failed login of the chunk.
    Clients never span partitions, so their counts add up. A user name tried from two partitions
    is counted twice.
    """

    others: tuple[int, int, int] = (0, 0, 0)
    read_in: int = -1

    def counts(self) -> tuple[int, int, int]:
        failed, clients, users = self.others
        return len(self.events) + failed, len(self.clients) + clients, len(self.users) + users

    def plain(self) -> EndpointWindow:
        return EndpointWindow(**{item.name: getattr(self, item.name) for item in dataclasses.fields(EndpointWindow)})


class RedisLoginTracker(LoginTracker):
    """`LoginTracker` whose endpoint counts cover the failed logins of every partition."""

    def __init__(self, local: LoginTracker, site: SharedSite) -> None:
        super().__init__(local._window, local._max)
        self._site = site
        self._endpoints = OrderedDict((path, _shared_window(window)) for path, window in local._endpoints.items())

    def _new_window(self, endpoint: str) -> EndpointWindow:
        return SharedEndpointWindow()

    def add(self, endpoint: str, now: float, client: str, user: str | None) -> EndpointWindow:
        site = self._site
        site.failed_login(endpoint, now, client, user or "-")
        window = super().add(endpoint, now, client, user)
        assert isinstance(window, SharedEndpointWindow)
        if window.read_in != site.chunk:
            window.others = site.login_counts(endpoint, now)
            window.read_in = site.chunk
        return window

    def plain(self) -> LoginTracker:
        """Return the in-memory tracker with this partition's windows, for a snapshot."""
        tracker = LoginTracker(self._window, self._max)
        for path, window in self._endpoints.items():
            tracker._endpoints[path] = window.plain() if isinstance(window, SharedEndpointWindow) else window
        return tracker


def _shared_window(window: EndpointWindow) -> SharedEndpointWindow:
    names = (item.name for item in dataclasses.fields(EndpointWindow))
    return SharedEndpointWindow(**{name: getattr(window, name) for name in names})


def share_site(agent: DecisionAgent, site: SharedSite) -> None:
    """Back `agent`'s flood baseline and login tracker with `site`, keeping the state they already hold."""
    baseline, logins = agent.baseline, agent.logins
    if isinstance(baseline, RedisSiteBaseline):
        baseline = baseline.plain()
    if isinstance(logins, RedisLoginTracker):
        logins = logins.plain()
    agent.baseline = RedisSiteBaseline(baseline, site)
    agent.logins = RedisLoginTracker(logins, site)


def plain_site(agent: DecisionAgent) -> dict[str, object]:
    """Return the agent's baseline and login tracker as in-memory objects, for a snapshot (no Redis client inside)."""
    baseline, logins = agent.baseline, agent.logins
    return {
        "baseline": baseline.plain() if isinstance(baseline, RedisSiteBaseline) else baseline,
        "logins": logins.plain() if isinstance(logins, RedisLoginTracker) else logins,
    }
