"""The decision agent: turns scored events into allow/monitor/alert/rate_limit/block decisions.

`DecisionAgent.observe` runs on every event, so the common path is a few
comparisons against the policy thresholds. Evidence, reasons and a decision
are built only when a scenario threshold is crossed and no active decision
for the same value and scenario already covers it.

Scenarios and what each one reads:

- brute_force: failed logins of one client in the window (`ClientStats`).
- credential_stuffing: one client failing against many user names, or one
  login endpoint failing for many clients or many user names (site state kept
  here). Participating clients are acted on, and a /24 (IPv4) or /64 (IPv6)
  holding several of them gets a range decision.
- scanning: 4xx share with many distinct paths, probe paths, TLS/RDP bytes
  sent as the request, scanner user agents.
- injection_attempt: the content signal of the request (`features["injection"]`).
- flood: request rate far above the site's median across active clients and
  above an absolute floor.
- scraping: many distinct catalogue pages with few static assets, or a script
  user agent walking the catalogue (`agents.scraping`).
- anomalous_behaviour: a calibrated anomaly score above `min_score` on several
  events of one client within the window, with no named scenario active.

Clients that are loopback addresses, trusted proxies or on the allow-list are
never acted on. Clients logged by hostname only get at most an alert, with
scope "hostname", because a firewall cannot act on a name.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import statistics
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from agents.bus import DECISIONS, SCORED, Bus
from agents.decisions_store import Decision, DecisionStore, iso_utc
from agents.gc_pause import paused_gc
from agents.ingestion import FEATURE_INDEX as FEATURE_AT
from agents.messages import FeatureRow, ScoredEvent
from agents.policy import ACTION_RANK, SEVERITIES, CredentialStuffing, Policy, Scenario, format_duration
from agents.reasons import STUFFING_FIRST_ES, clock_time, count, number, percent, quote, quote_request
from agents.scraping import CatalogueWalks, WalkVerdict
from agents.webhook import WebhookNotifier
from config.settings import Settings, get_settings
from stream.events import AccessEvent
from stream.features import LOGIN_PATH, is_failed_login
from stream.signals import SCANNER_UA

logger = logging.getLogger("centinela.decision")

UA_MATCH_LIMIT = 512  # characters of a user agent the allow-list regexes see
MAX_ENDPOINT_EVENTS = 50_000  # failed logins kept per endpoint window
# Once under attack, a login endpoint stays so until its counts fall below this share of the thresholds.
HYSTERESIS = 0.5
LOGINS_ES = ("inicio de sesión fallido", "inicios de sesión fallidos")
LOGINS_EN = ("failed login", "failed logins")


@dataclass(slots=True)
class Finding:
    """A scenario threshold crossed by one event: what to do and why, before escalation."""

    scenario: str
    action: str
    severity: str
    duration: float
    confidence: float
    evidence: list[dict[str, Any]]
    reasons_es: list[str]
    reasons_en: list[str]
    value: str
    scope: str = "ip"


@dataclass(slots=True)
class Subject:
    """The client a finding is about: its key, its IP (None for hostnames) and its user agent."""

    client: str
    ip: str | None
    user_agent: str | None


@dataclass(slots=True)
class ClientState:
    """Per-client state beyond `ClientStats`, created only for clients with failed logins or high scores."""

    ip: str | None
    user_agent: str | None = None
    failed_logins: int = 0
    requests: int = 0
    distinct_users: int = 0
    distinct_paths: int = 0
    max_score: float = 0.0
    anomalous: deque[float] = field(default_factory=deque)


def _evidence(feature: str, value: float, baseline: float | None, unit: str, reference: str) -> dict[str, Any]:
    return {
        "feature": feature,
        "value": round(value, 3) if isinstance(value, float) else value,
        "baseline": round(baseline, 3) if isinstance(baseline, float) else baseline,
        "unit": unit,
        "reference": reference,
    }


def _confidence(ratio: float, score: float | None) -> float:
    """Return 0.5 at the threshold, rising towards 0.99 as the value exceeds it, plus 0.05 for a high score."""
    confidence = 1.0 - 0.5 / max(ratio, 1.0)
    if score is not None and score >= 0.99:
        confidence += 0.05
    return min(confidence, 0.99)


class SiteBaseline:
    """Median requests/min across clients active within the window, refreshed at most every `refresh` s."""

    def __init__(self, window: float, max_clients: int, refresh: float, min_clients: int) -> None:
        self._window = window
        self._max_clients = max_clients
        self._refresh = refresh
        self._min_clients = min_clients
        self._rates: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._median: float | None = None
        self._computed_at = float("-inf")

    def update(self, client: str, now: float, rate: float) -> None:
        rates = self._rates
        rates[client] = (now, rate)
        rates.move_to_end(client)
        if len(rates) > self._max_clients:
            rates.popitem(last=False)

    def median(self, now: float) -> float | None:
        """Return the site median rate, or None with fewer than `min_clients` active clients."""
        if now - self._computed_at < self._refresh:
            return self._median
        self._expire(now)
        self._computed_at = now
        if len(self._rates) < self._min_clients:
            self._median = None
        else:
            self._median = statistics.median(rate for _, rate in self._rates.values())
        return self._median

    def active_clients(self) -> int:
        return len(self._rates)

    def clients_in(self, cidr: str) -> int:
        """Count the tracked clients inside `cidr`; this scans them all, so call it rarely."""
        network = ipaddress.ip_network(cidr)
        count = 0
        for client in self._rates:
            try:
                if ipaddress.ip_address(client) in network:
                    count += 1
            except ValueError:
                continue
        return count

    def _expire(self, now: float) -> None:
        # Insertion order follows arrival, so the front contains the longest idle clients.
        # Note: with unordered timestamps a few idle clients may stay one refresh longer.
        rates = self._rates
        while rates:
            client, (seen, _) = next(iter(rates.items()))
            if now - seen <= self._window:
                break
            del rates[client]


@dataclass(slots=True)
class EndpointWindow:
    """Failed logins on one endpoint within the window, counted per client and per user name."""

    events: deque[tuple[float, str, str]] = field(default_factory=deque)
    clients: Counter[str] = field(default_factory=Counter)
    users: Counter[str] = field(default_factory=Counter)
    under_attack: bool = False
    attack_since: float = 0.0  # log time the attack was detected
    attack_start: tuple[int, int, int] = (0, 0, 0)  # failed logins, clients and users at that time
    ranges: Counter[str] = field(default_factory=Counter)
    ranged: set[str] = field(default_factory=set)
    range_checked: dict[str, int] = field(default_factory=dict)

    def add(self, now: float, client: str, user: str, window: float) -> None:
        self.events.append((now, client, user))
        self.clients[client] += 1
        self.users[user] += 1
        while self.events and (now - self.events[0][0] > window or len(self.events) > MAX_ENDPOINT_EVENTS):
            _, old_client, old_user = self.events.popleft()
            _decrement(self.clients, old_client)
            _decrement(self.users, old_user)

    def counts(self) -> tuple[int, int, int]:
        """Return the failed logins, distinct clients and distinct user names in the window."""
        return len(self.events), len(self.clients), len(self.users)


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


class LoginTracker:
    """Failed-login windows per endpoint (URL path), at most `max_endpoints`, least recently used out."""

    def __init__(self, window: float, max_endpoints: int) -> None:
        self._window = window
        self._max = max_endpoints
        self._endpoints: OrderedDict[str, EndpointWindow] = OrderedDict()

    def add(self, endpoint: str, now: float, client: str, user: str | None) -> EndpointWindow:
        window = self._endpoints.get(endpoint)
        if window is None:
            window = self._new_window(endpoint)
            self._endpoints[endpoint] = window
            if len(self._endpoints) > self._max:
                self._endpoints.popitem(last=False)
        else:
            self._endpoints.move_to_end(endpoint)
        window.add(now, client, user or "-", self._window)
        return window

    def _new_window(self, endpoint: str) -> EndpointWindow:
        """Return an empty window for `endpoint`; a shared backing (`agents.redis_site`) returns its own kind."""
        return EndpointWindow()


class DecisionAgent:
    """Aggregate scored events per client and per site, and emit decisions by the policy.

    `observe` takes the log's timestamp as "now", so replays of old logs get
    the same decisions as the live stream had.
    """

    def __init__(
        self,
        policy: Policy,
        store: DecisionStore,
        settings: Settings | None = None,
        webhook: WebhookNotifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        settings = settings or get_settings()
        self.policy = policy
        self.store = store
        self.clock = clock
        self.window = settings.window_seconds
        self.webhook = webhook
        if webhook is None and policy.webhook.url:
            self.webhook = WebhookNotifier(policy.webhook)
        self.skipped: Counter[str] = Counter()

        self._max_clients = settings.max_clients
        self._clients: OrderedDict[str, ClientState] = OrderedDict()
        flood = policy.scenarios.flood
        self.baseline = SiteBaseline(
            self.window, settings.max_clients, flood.baseline_refresh, flood.min_active_clients
        )
        self.logins = LoginTracker(self.window, policy.scenarios.credential_stuffing.max_endpoints)
        self.walks = CatalogueWalks(policy.scenarios.scraping, self.window)
        # Log time each client was first seen, oldest first, at most `max_clients`.
        # NOTE: eviction is first-in first-out, so past that bound a long-known client can
        # read as new for one window.
        self._first_seen: dict[str, float] = {}

        self._never = [ipaddress.ip_network(item, strict=False) for item in settings.trusted_proxies]
        self._allowed = [ipaddress.ip_network(item, strict=False) for item in policy.allow.addresses]
        patterns = policy.allow.user_agents
        self._ua_allowed = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        self._ip_exemption = lru_cache(maxsize=65_536)(self._check_ip)

    # Entry points

    def observe(self, scored: ScoredEvent) -> list[Decision]:
        """Return the decisions this event creates, extends or upgrades (usually none).

        Each returned decision is also queued for the webhook when one is configured.
        """
        event = scored.event
        client = event.client
        self.baseline.update(client, event.timestamp, scored.stats.rate_per_min)
        if client not in self._first_seen:
            self._remember(client, event.timestamp)
        return self._evaluate(scored, client)

    def observe_batch(self, batch: list[ScoredEvent], decisions: list[Decision] | None = None) -> list[Decision]:
        """Observe each event of `batch` in order; return the decisions, appended to `decisions` if given."""
        with paused_gc():
            return self._observe_batch(batch, decisions)

    def _observe_batch(self, batch: list[ScoredEvent], decisions: list[Decision] | None) -> list[Decision]:
        """Run `observe_batch` with the cyclic collector paused.

        Gives the same decisions and leaves the same state as `observe` on each event. The
        bookkeeping every event needs runs inline: site baseline, first-seen time, a known
        client's counts and a followed catalogue walk. The rules run only for an event that is a
        failed login, crosses a scraping threshold or may cross another scenario's threshold.
        """
        out: list[Decision] = [] if decisions is None else decisions
        if type(self.baseline) is not SiteBaseline:
            # A shared baseline (`agents.redis_site`) must see every update: skip the inline path.
            for scored in batch:
                out.extend(self.observe(scored))
            return out
        scenarios = self.policy.scenarios
        scanning = scenarios.scanning
        injection_signal = scenarios.injection_attempt.signal
        flood_rate = scenarios.flood.rate_per_min
        probe_hits, handshakes = scanning.probe_hits, scanning.handshakes
        share_4xx, distinct_paths = scanning.share_4xx, scanning.distinct_paths
        min_score = scenarios.anomalous_behaviour.min_score
        walks = self.walks.followed if scenarios.scraping.enabled else None
        follow, gate = self.walks.observe, self.walks.gate
        states, first_seen = self._clients, self._first_seen
        rates, limit = self.baseline._rates, self.baseline._max_clients
        move_rate, pop_rate, move_state = rates.move_to_end, rates.popitem, states.move_to_end
        injection_at, ua_kind_at = FEATURE_AT["injection"], FEATURE_AT["ua_kind"]
        evaluate, act, remember, may_fire = self._evaluate, self._act, self._remember, self._may_fire
        last_matrix: Any = None
        injection_column: list[float] = []
        ua_kind_column: list[float] = []
        for scored in batch:
            event = scored.event
            stats = scored.stats
            client = event.source_ip or event.source_address
            now = event.timestamp
            # SiteBaseline.update, inline.
            rates[client] = (now, stats.rate_per_min)
            move_rate(client)
            if len(rates) > limit:
                pop_rate(last=False)
            if client not in first_seen:
                remember(client, now)

            score = scored.score
            state = states.get(client)
            if state is not None:
                # _state_for and _is_failed_login, inline.
                move_state(client)
                state.failed_logins = stats.failed_logins
                state.requests = stats.requests
                state.distinct_users = stats.distinct_users
                state.distinct_paths = stats.distinct_paths
                state.user_agent = event.user_agent_original
                status = event.http_response_status_code
                failed_login = status is not None and status >= 400 and _counts_as_failed_login(event)
            elif stats.failed_logins > 0 or (score is not None and score >= min_score):
                out.extend(evaluate(scored, client))  # creates the client's state
                continue
            else:
                failed_login = False

            walk = follow(scored) if walks is not None and (client in walks or stats.requests >= gate) else None
            features = scored.features
            if type(features) is FeatureRow and features._index is FEATURE_AT:
                # _may_fire on the row's values, read from the batch's columns when the row points into a matrix.
                matrix = features._matrix
                if matrix is None:
                    values = features._values
                    injection, ua_kind = values[injection_at], values[ua_kind_at]  # type: ignore[index]
                else:
                    if matrix is not last_matrix:
                        last_matrix = matrix
                        injection_column = matrix[:, injection_at].tolist()
                        ua_kind_column = matrix[:, ua_kind_at].tolist()
                    injection, ua_kind = injection_column[features._row], ua_kind_column[features._row]
                fire = (
                    injection >= injection_signal
                    or ua_kind >= 1.0
                    or stats.rate_per_min >= flood_rate
                    or stats.probe_hits >= probe_hits
                    or stats.handshakes >= handshakes
                    or (stats.share_4xx >= share_4xx and stats.distinct_paths >= distinct_paths)
                    or (score is not None and score >= min_score)
                )
                if fire and ua_kind >= 1.0:
                    fire = may_fire(scored)
            else:
                fire = failed_login or walk is not None or may_fire(scored)
            if failed_login or walk is not None or fire:
                out.extend(act(scored, client, state, failed_login, walk))
        return out

    def _evaluate(self, scored: ScoredEvent, client: str) -> list[Decision]:
        """Run the rules on an event already added to the site baseline and the first-seen times."""
        state = self._state_for(scored)
        failed_login = state is not None and self._is_failed_login(scored, state)
        walk = self.walks.observe(scored) if self.policy.scenarios.scraping.enabled else None
        if not failed_login and walk is None and not self._may_fire(scored):
            return []
        return self._act(scored, client, state, failed_login, walk)

    def _act(
        self,
        scored: ScoredEvent,
        client: str,
        state: ClientState | None,
        failed_login: bool,
        walk: WalkVerdict | None,
    ) -> list[Decision]:
        """Check each scenario on the event and turn the findings into decisions."""
        event = scored.event
        subject = Subject(client, event.source_ip, event.user_agent_original)
        findings: list[Finding] = []
        if failed_login and state is not None:
            self._check_logins(scored, subject, state, findings)
        self._check_scanning(scored, subject, findings)
        self._check_injection(scored, subject, findings)
        self._check_flood(scored, subject, findings)
        if walk is not None:
            self._add(findings, self._scraping(scored, subject, walk))
        if not findings and state is not None:
            self._check_anomalous(scored, subject, state, findings)
        decisions = self._decide_all(findings, subject, scored)
        if decisions and self.webhook is not None:
            for decision in decisions:
                self.webhook.submit(decision)
        return decisions

    async def run(self, bus: Bus) -> None:
        """Consume `SCORED` from the bus, publish each decision to `DECISIONS` and to the webhook."""
        subscription = bus.subscribe(SCORED)
        if self.webhook is not None:
            self.webhook.start()
        logger.info("decision agent started simulate=%s", self.policy.simulate)
        try:
            while True:
                message = await subscription.get()
                try:
                    await self._handle(bus, message)
                finally:
                    subscription.task_done()
        finally:
            subscription.close()
            if self.webhook is not None:
                await self.webhook.close()
            logger.info("decision agent stopped")

    async def _handle(self, bus: Bus, message: Any) -> None:
        if not isinstance(message, ScoredEvent):
            return
        try:
            decisions = self.observe(message)
        except Exception:
            # One bad event must not stop the agent: log it with the client and go on.
            logger.exception(
                "decision agent failed on event client=%r line=%s", message.event.client, message.event.line
            )
            return
        for decision in decisions:
            await bus.publish(DECISIONS, decision)

    # Per-client state

    def _remember(self, client: str, now: float) -> None:
        first_seen = self._first_seen
        first_seen[client] = now
        if len(first_seen) > self._max_clients:
            del first_seen[next(iter(first_seen))]

    def _state_for(self, scored: ScoredEvent) -> ClientState | None:
        client = scored.event.client
        state = self._clients.get(client)
        if state is not None:
            self._clients.move_to_end(client)
            return state
        anomalous = self.policy.scenarios.anomalous_behaviour
        high_score = scored.score is not None and scored.score >= anomalous.min_score
        if scored.stats.failed_logins <= 0 and not high_score:
            return None
        state = ClientState(ip=scored.event.source_ip)
        self._clients[client] = state
        if len(self._clients) > self._max_clients:
            self._clients.popitem(last=False)
        return state

    def _is_failed_login(self, scored: ScoredEvent, state: ClientState) -> bool:
        """Tell whether this event is a failed login, and remember the client's latest counts."""
        stats = scored.stats
        state.failed_logins = stats.failed_logins
        state.requests = stats.requests
        state.distinct_users = stats.distinct_users
        state.distinct_paths = stats.distinct_paths
        state.user_agent = scored.event.user_agent_original
        return _counts_as_failed_login(scored.event)

    def _may_fire(self, scored: ScoredEvent) -> bool:
        """Cheap pre-check: could any non-login scenario fire on this event?"""
        scenarios = self.policy.scenarios
        stats = scored.stats
        features = scored.features
        scanning = scenarios.scanning
        return (
            features.get("injection", 0.0) >= scenarios.injection_attempt.signal
            or stats.rate_per_min >= scenarios.flood.rate_per_min
            or stats.probe_hits >= scanning.probe_hits
            or stats.handshakes >= scanning.handshakes
            or _is_scanner(features, scored.event.user_agent_original)
            or (stats.share_4xx >= scanning.share_4xx and stats.distinct_paths >= scanning.distinct_paths)
            or (scored.score is not None and scored.score >= scenarios.anomalous_behaviour.min_score)
        )

    # Scenarios: each appends findings when its thresholds are crossed

    def _check_logins(self, scored: ScoredEvent, subject: Subject, state: ClientState, findings: list[Finding]) -> None:
        """Name at most one login scenario per client: stuffing by many user names, brute force, then participant.

        A client with an active brute_force decision is not also a stuffing participant, and one with an
        active credential_stuffing decision does not also get brute_force. Trying many user names
        (`client_distinct_users`) always reads as credential_stuffing, never as brute_force.
        """
        stats = scored.stats
        now = scored.event.timestamp
        brute = self.policy.scenarios.brute_force
        stuffing = self.policy.scenarios.credential_stuffing
        many_users = stuffing.enabled and stats.distinct_users >= stuffing.client_distinct_users

        if many_users and stats.failed_logins >= stuffing.client_failed_logins:
            self._add(findings, self._stuffing_by_client(scored, subject))
        elif (
            brute.enabled
            and stats.failed_logins >= brute.failed_logins
            and not many_users
            and self.store.active_for(subject.client, "credential_stuffing", now) is None
        ):
            self._add(findings, self._brute_force(scored, subject))
        if stuffing.enabled:
            self._check_endpoint(scored, subject, findings)

    def _add(self, findings: list[Finding], finding: Finding | None) -> None:
        if finding is not None:
            findings.append(finding)

    def _brute_force(self, scored: ScoredEvent, subject: Subject) -> Finding | None:
        config = self.policy.scenarios.brute_force
        if self._suppressed(subject.client, "brute_force", config.action, scored.event.timestamp):
            return None
        stats = scored.stats
        window = int(self.window)
        path = quote_request(scored.event.url_path)
        return self._finding(
            "brute_force",
            config,
            subject,
            stats.failed_logins / config.failed_logins,
            scored.score,
            [
                _evidence("failed_logins", stats.failed_logins, config.failed_logins, f"per {window} s", "threshold"),
                _evidence("distinct_users", stats.distinct_users, None, f"per {window} s", "observed"),
            ],
            [
                f"{count(stats.failed_logins, *LOGINS_ES)} desde {subject.client} en {window} s "
                f"(umbral {config.failed_logins}); último intento en {path}."
            ],
            [
                f"{count(stats.failed_logins, *LOGINS_EN)} from {subject.client} in {window} s "
                f"(threshold {config.failed_logins}); last attempt on {path}."
            ],
        )

    def _stuffing_by_client(self, scored: ScoredEvent, subject: Subject) -> Finding | None:
        config = self.policy.scenarios.credential_stuffing
        if self._suppressed(subject.client, "credential_stuffing", config.action, scored.event.timestamp):
            return None
        stats = scored.stats
        window = int(self.window)
        return self._finding(
            "credential_stuffing",
            config,
            subject,
            stats.distinct_users / config.client_distinct_users,
            scored.score,
            [
                _evidence(
                    "distinct_users",
                    stats.distinct_users,
                    config.client_distinct_users,
                    f"per {window} s",
                    "threshold",
                ),
                _evidence(
                    "failed_logins",
                    stats.failed_logins,
                    config.client_failed_logins,
                    f"per {window} s",
                    "threshold",
                ),
            ],
            [
                f"Ataque de {STUFFING_FIRST_ES} desde {subject.client}: probó "
                f"{count(stats.distinct_users, 'usuario distinto', 'usuarios distintos')} con "
                f"{count(stats.failed_logins, *LOGINS_ES)} en {window} s "
                f"(umbral {count(config.client_distinct_users, 'usuario', 'usuarios')})."
            ],
            [
                f"Credential stuffing from {subject.client}: it tried "
                f"{count(stats.distinct_users, 'distinct user', 'distinct users')} with "
                f"{count(stats.failed_logins, *LOGINS_EN)} in {window} s "
                f"(threshold {count(config.client_distinct_users, 'user', 'users')})."
            ],
        )

    def _check_endpoint(self, scored: ScoredEvent, subject: Subject, findings: list[Finding]) -> None:
        """Track the failed login per endpoint; act on participants while the endpoint is under attack."""
        config = self.policy.scenarios.credential_stuffing
        event = scored.event
        now = event.timestamp
        endpoint = event.url_path or "-"
        window = self.logins.add(endpoint, now, subject.client, event.user_name)
        # Once under attack, the endpoint stays so until it falls below half the thresholds,
        # so a campaign whose pace wavers around the threshold is followed throughout.
        attacked = _endpoint_attacked(config, window, HYSTERESIS if window.under_attack else 1.0)
        if not attacked:
            if window.under_attack:
                # The attack is over: the next one counts its ranges afresh.
                window.under_attack = False
                window.ranges.clear()
                window.ranged.clear()
                window.range_checked.clear()
            return

        if window.under_attack:
            candidates = [subject.client]
        else:
            # The attack was just detected: look back at everyone who already took part.
            window.under_attack = True
            window.attack_since = now
            window.attack_start = window.counts()
            candidates = list(window.clients)
            logger.warning(
                "credential stuffing on endpoint=%r failed_logins=%d clients=%d users=%d",
                endpoint,
                *window.attack_start,
            )
        # A client already named by a login scenario on this event keeps that one name.
        named = {finding.value for finding in findings if finding.scenario in ("brute_force", "credential_stuffing")}
        for client in candidates:
            if client not in named:
                self._add(findings, self._participant(client, endpoint, window, now, subject, scored))
        self._add(findings, self._range_finding(endpoint, window, findings, now))

    def _participant(
        self,
        client: str,
        endpoint: str,
        window: EndpointWindow,
        now: float,
        current: Subject,
        scored: ScoredEvent,
    ) -> Finding | None:
        config = self.policy.scenarios.credential_stuffing
        state = self._clients.get(client)
        attempts = window.clients.get(client, 0)
        if state is None or attempts == 0:
            return None
        share = state.failed_logins / max(state.requests, 1)
        new_client = self._new_login_only(client, state, now)
        if not new_client and not _takes_part(config, attempts, share, state.distinct_users):
            return None
        # A brute forcer hitting the attacked endpoint keeps its brute_force decision, alone.
        if self.store.active_for(client, "brute_force", now) is not None:
            return None
        if self._suppressed(client, "credential_stuffing", config.action, now):
            return None

        subject = current if client == current.client else Subject(client, state.ip, state.user_agent)
        window_s = int(self.window)
        users = state.distinct_users
        evidence = _endpoint_evidence(config, window, quote_request(endpoint), window_s)
        evidence += [
            _evidence("client_failed_logins", attempts, config.participant_failed_logins, f"per {window_s} s",
                      "threshold"),
            _evidence("failed_login_share", share, config.participant_login_share, "share of requests", "threshold"),
            _evidence("client_distinct_users", users, config.participant_distinct_users, f"per {window_s} s",
                      "threshold"),
        ]
        es, en = _endpoint_reasons(config, window, quote_request(endpoint), window_s)
        es.append(
            f"{client} participa con {count(attempts, 'intento fallido', 'intentos fallidos')} contra "
            f"{count(users, 'usuario', 'usuarios')}, y el {percent(share, 'es')} de sus peticiones son "
            "inicios de sesión fallidos."
        )
        en.append(
            f"{client} took part with {count(attempts, 'failed attempt', 'failed attempts')} against "
            f"{count(users, 'user', 'users')}, and {percent(share, 'en')} of its requests are failed logins."
        )
        ratio = len(window.events) / config.endpoint_failed_logins
        score = scored.score if client == current.client else None
        finding = self._finding("credential_stuffing", config, subject, ratio, score, evidence, es, en)
        if new_client:
            age = int(now - self._first_seen[client])
            finding.evidence.append(_evidence("client_age", age, window_s, "seconds since first request", "threshold"))
            finding.reasons_es.append(
                f"{client} apareció hace {age} s y solo envió intentos de inicio de sesión, sin navegar la tienda."
            )
            finding.reasons_en.append(
                f"{client} first appeared {age} s ago and sent only login attempts, without browsing the shop."
            )
        return finding

    def _new_login_only(self, client: str, state: ClientState, now: float) -> bool:
        """Tell whether the client is new within the window and sent nothing but login attempts.

        One other request on the same path is allowed: bots often load the login form first.
        """
        if not self.policy.scenarios.credential_stuffing.participant_new_client:
            return False
        first = self._first_seen.get(client)
        if first is None or now - first > self.window:
            return False
        return state.requests - state.failed_logins <= 1 and state.distinct_paths <= 1

    def _range_finding(
        self, endpoint: str, window: EndpointWindow, findings: list[Finding], now: float
    ) -> Finding | None:
        """Return a range finding when `range_min_clients` participants share one /24 or /64."""
        config = self.policy.scenarios.credential_stuffing
        if config.range_min_clients == 0:
            return None
        for finding in findings:
            if finding.scenario != "credential_stuffing" or finding.scope != "ip" or finding.value in window.ranged:
                continue
            window.ranged.add(finding.value)
            network = _network_of(finding.value)
            if network is not None:
                window.ranges[network] += 1
        for network, members in window.ranges.items():
            # Each range is weighed again only when it gains a participant.
            if members < config.range_min_clients or window.range_checked.get(network) == members:
                continue
            window.range_checked[network] = members
            if self._range_exempt(network):
                continue
            active = max(self.baseline.clients_in(network), members)
            if members / active < config.range_min_share:
                continue
            if self._suppressed(network, "credential_stuffing", config.range_action, now):
                continue
            return self._range_of(network, members, active, endpoint)
        return None

    def _range_of(self, network: str, members: int, active: int, endpoint: str) -> Finding:
        config = self.policy.scenarios.credential_stuffing
        path = quote_request(endpoint)
        verb_es, verb_en = ("participa", "takes part") if members == 1 else ("participan", "take part")
        return Finding(
            scenario="credential_stuffing",
            action=config.range_action,
            severity=config.severity,
            duration=config.range_duration,
            confidence=_confidence(members / config.range_min_clients, None),
            evidence=[
                _evidence("clients_in_range", members, config.range_min_clients, "clients", "threshold"),
                _evidence(
                    "participant_share_in_range",
                    members / active,
                    config.range_min_share,
                    f"of {active} active clients",
                    "threshold",
                ),
            ],
            reasons_es=[
                f"{members} de {count(active, 'cliente activo', 'clientes activos')} de la red {network} "
                f"{verb_es} en el ataque de {STUFFING_FIRST_ES} contra {path}."
            ],
            reasons_en=[
                f"{members} of {count(active, 'active client', 'active clients')} in {network} {verb_en} "
                f"in the credential stuffing against {path}."
            ],
            value=network,
            scope="range",
        )

    def _check_scanning(self, scored: ScoredEvent, subject: Subject, findings: list[Finding]) -> None:
        config = self.policy.scenarios.scanning
        if not config.enabled:
            return
        stats = scored.stats

        window = int(self.window)
        evidence: list[dict[str, Any]] = []
        es: list[str] = []
        en: list[str] = []
        ratio = 0.0

        if config.scanner_user_agent and _is_scanner(scored.features, scored.event.user_agent_original):
            ua = quote(scored.event.user_agent_original)
            evidence.append(_evidence("ua_scanner", 1.0, 0.0, "flag", "threshold"))
            es.append(f"User-Agent de un escáner conocido: {ua}.")
            en.append(f"Known scanner User-Agent: {ua}.")
            ratio = max(ratio, 4.0)

        if stats.probe_hits >= config.probe_hits:
            evidence.append(
                _evidence("probe_hits", stats.probe_hits, config.probe_hits, f"per {window} s", "threshold")
            )
            last = quote_request(scored.event.url_path, scored.event.url_query)
            es.append(
                f"{count(stats.probe_hits, 'petición', 'peticiones')} a rutas de sondeo conocidas "
                f"(p. ej. /.env, /.git/config) en {window} s (umbral {config.probe_hits}); última: {last}."
            )
            en.append(
                f"{count(stats.probe_hits, 'request', 'requests')} for known probe paths "
                f"(such as /.env, /.git/config) in {window} s (threshold {config.probe_hits}); last: {last}."
            )
            ratio = max(ratio, stats.probe_hits / config.probe_hits)

        if stats.handshakes >= config.handshakes:
            evidence.append(
                _evidence("handshakes", stats.handshakes, config.handshakes, f"per {window} s", "threshold")
            )
            es.append(
                f"{count(stats.handshakes, 'petición', 'peticiones')} con bytes de TLS/RDP en lugar de HTTP "
                f"en {window} s."
            )
            en.append(
                f"{count(stats.handshakes, 'request', 'requests')} carrying TLS/RDP bytes instead of HTTP "
                f"in {window} s."
            )
            ratio = max(ratio, stats.handshakes / config.handshakes)

        if (
            stats.requests >= config.min_requests
            and stats.share_4xx >= config.share_4xx
            and stats.distinct_paths >= config.distinct_paths
        ):
            evidence.append(_evidence("share_4xx", stats.share_4xx, config.share_4xx, "share", "threshold"))
            evidence.append(
                _evidence(
                    "distinct_paths",
                    stats.distinct_paths,
                    config.distinct_paths,
                    f"per {window} s",
                    "threshold",
                )
            )
            es.append(
                f"{percent(stats.share_4xx, 'es')} de respuestas 4xx en "
                f"{count(stats.distinct_paths, 'ruta distinta', 'rutas distintas')} "
                f"({count(stats.requests, 'petición', 'peticiones')} en {window} s)."
            )
            en.append(
                f"{percent(stats.share_4xx, 'en')} of responses were 4xx across "
                f"{count(stats.distinct_paths, 'distinct path', 'distinct paths')} "
                f"({count(stats.requests, 'request', 'requests')} in {window} s)."
            )
            ratio = max(ratio, stats.distinct_paths / config.distinct_paths)

        if not evidence or self._suppressed(subject.client, "scanning", config.action, scored.event.timestamp):
            return

        findings.append(self._finding("scanning", config, subject, ratio, scored.score, evidence, es, en))

    def _check_injection(self, scored: ScoredEvent, subject: Subject, findings: list[Finding]) -> None:
        config = self.policy.scenarios.injection_attempt
        signal = scored.features.get("injection", 0.0)
        if not config.enabled or signal < config.signal:
            return
        hits = max(scored.stats.injection_hits, 1)
        action = config.action if hits >= config.hits else config.first_hit_action
        if action == "allow" or self._suppressed(subject.client, "injection_attempt", action, scored.event.timestamp):
            return
        event = scored.event
        target = quote_request(event.url_path, event.url_query)
        window = int(self.window)
        findings.append(
            self._finding(
                "injection_attempt",
                config,
                subject,
                signal / config.signal * hits / config.hits,
                scored.score,
                [
                    _evidence("injection", signal, config.signal, "signal 0..1", "threshold"),
                    _evidence("injection_hits", hits, config.hits, f"per {window} s", "threshold"),
                ],
                [
                    f"Petición con patrones de inyección (SQLi/XSS/path traversal/comandos) de intensidad "
                    f"{number(signal, 'es')}: {target}.",
                    f"{count(hits, 'petición así', 'peticiones así')} en {window} s "
                    f"(bloqueo a partir de {config.hits}).",
                ],
                [
                    f"Request with injection patterns (SQLi/XSS/path traversal/command) of strength "
                    f"{number(signal, 'en')}: {target}.",
                    f"{count(hits, 'such request', 'such requests')} in {window} s (block from {config.hits}).",
                ],
                action=action,
            )
        )

    def _check_flood(self, scored: ScoredEvent, subject: Subject, findings: list[Finding]) -> None:
        config = self.policy.scenarios.flood
        stats = scored.stats
        if not config.enabled or stats.rate_per_min < config.rate_per_min or stats.requests < config.min_requests:
            return
        now = scored.event.timestamp
        median = self.baseline.median(now)
        if median is not None and stats.rate_per_min < config.baseline_factor * median:
            return
        if self._suppressed(subject.client, "flood", config.action, now):
            return
        rate = stats.rate_per_min
        if median is None:
            active = config.min_active_clients
            reference_es = f"sin mediana del sitio (menos de {count(active, 'cliente activo', 'clientes activos')})"
            reference_en = f"no site median (fewer than {count(active, 'active client', 'active clients')})"
            ratio = rate / config.rate_per_min
        else:
            reference_es = f"mediana del sitio {number(median, 'es', 1)}/min"
            reference_en = f"site median {number(median, 'en', 1)}/min"
            ratio = min(rate / config.rate_per_min, rate / max(config.baseline_factor * median, 1e-9))
        findings.append(
            self._finding(
                "flood",
                config,
                subject,
                ratio,
                scored.score,
                [
                    _evidence("requests_per_min", rate, median, "requests/min", "site_median"),
                    _evidence("requests_per_min", rate, config.rate_per_min, "requests/min", "threshold"),
                ],
                [
                    f"{count(round(rate), 'petición/min', 'peticiones/min')} desde {subject.client} "
                    f"({reference_es}; mínimo absoluto {number(config.rate_per_min, 'es', 0)}/min)."
                ],
                [
                    f"{count(round(rate), 'request/min', 'requests/min')} from {subject.client} "
                    f"({reference_en}; absolute floor {number(config.rate_per_min, 'en', 0)}/min)."
                ],
            )
        )

    def _scraping(self, scored: ScoredEvent, subject: Subject, verdict: WalkVerdict) -> Finding | None:
        config = self.policy.scenarios.scraping
        if self._suppressed(subject.client, "scraping", config.action, scored.event.timestamp):
            return None
        walk = verdict.walk
        pages = walk.distinct_pages
        window = int(self.window)
        threshold = config.script_pages if verdict.script else config.pages
        evidence = [
            _evidence("distinct_catalogue_pages", pages, threshold, f"per {window} s", "threshold"),
            _evidence("asset_share", walk.asset_share, config.max_asset_share, "share of page and asset requests",
                      "observed" if verdict.script else "threshold"),
        ]
        last = quote_request(scored.event.url_path, scored.event.url_query)
        es = [
            f"{subject.client} pidió {count(pages, 'página distinta', 'páginas distintas')} del catálogo en "
            f"{window} s (umbral {threshold}), y solo el {percent(walk.asset_share, 'es')} de sus peticiones "
            f"fueron recursos estáticos; última: {last}."
        ]
        en = [
            f"{subject.client} requested {count(pages, 'distinct catalogue page', 'distinct catalogue pages')} in "
            f"{window} s (threshold {threshold}), and only {percent(walk.asset_share, 'en')} of its requests "
            f"were static assets; last: {last}."
        ]
        if verdict.script:
            ua = quote(verdict.user_agent)
            evidence.append(_evidence("ua_script", 1.0, 0.0, "flag", "threshold"))
            es.append(f"User-Agent de un script: {ua}.")
            en.append(f"Script User-Agent: {ua}.")
        return self._finding("scraping", config, subject, pages / threshold, scored.score, evidence, es, en)

    def _check_anomalous(
        self, scored: ScoredEvent, subject: Subject, state: ClientState, findings: list[Finding]
    ) -> None:
        config = self.policy.scenarios.anomalous_behaviour
        score = scored.score

        if not config.enabled or score is None or score < config.min_score:
            return
        now = scored.event.timestamp
        state.max_score = max(state.max_score, score)

        recent = state.anomalous
        recent.append(now)
        while recent and now - recent[0] > self.window:
            recent.popleft()
        while len(recent) > config.min_events:
            recent.popleft()

        if len(recent) < config.min_events or self._named_active(subject.client, now):
            return

        if self._suppressed(subject.client, "anomalous_behaviour", config.action, now):
            return

        window = int(self.window)
        findings.append(
            self._finding(
                "anomalous_behaviour",
                config,
                subject,
                state.max_score / config.min_score,
                None,
                [
                    _evidence("anomalous_events", len(recent), config.min_events, f"per {window} s", "threshold"),
                    _evidence("max_score", state.max_score, config.min_score, "calibrated score 0..1", "threshold"),
                ],
                [
                    f"{count(len(recent), 'evento', 'eventos')} con puntuación de anomalía ≥ "
                    f"{number(config.min_score, 'es', None)} en {window} s "
                    f"(máxima {number(state.max_score, 'es', 3)}) sin un patrón de ataque conocido."
                ],
                [
                    f"{count(len(recent), 'event', 'events')} with anomaly score ≥ "
                    f"{number(config.min_score, 'en', None)} in {window} s "
                    f"(max {number(state.max_score, 'en', 3)}) without a known attack pattern."
                ],
            )
        )

    def _named_active(self, client: str, now: float) -> bool:
        named = ("brute_force", "credential_stuffing", "scanning", "injection_attempt", "flood", "scraping")
        return any(self.store.active_for(client, scenario, now) is not None for scenario in named)

    # From findings to decisions

    def _finding(
        self,
        scenario: str,
        config: Scenario,
        subject: Subject,
        ratio: float,
        score: float | None,
        evidence: list[dict[str, Any]],
        es: list[str],
        en: list[str],
        action: str | None = None,
    ) -> Finding:
        return Finding(
            scenario=scenario,
            action=action or config.action,
            severity=config.severity,
            duration=config.duration,
            confidence=_confidence(ratio, score),
            evidence=evidence,
            reasons_es=es,
            reasons_en=en,
            value=subject.client,
        )

    def _suppressed(self, value: str, scenario: str, action: str, now: float) -> bool:
        """Tell whether an active decision already covers this and its cooldown has not passed."""
        active = self.store.active_for(value, scenario, now)
        if active is None:
            return False
        rank = ACTION_RANK[action]
        if active.scope == "hostname":
            rank = min(rank, ACTION_RANK["alert"])
        if rank > ACTION_RANK[active.action]:
            return False
        last = active.updated_at or active.triggered_at
        return now - last < self.policy.dedup.cooldown

    def _decide_all(self, findings: list[Finding], current: Subject, scored: ScoredEvent) -> list[Decision]:
        decisions: list[Decision] = []
        for finding in findings:
            subject = current if finding.value == current.client else self._subject_of(finding)
            if finding.scope == "ip" and self._exempt(subject):
                continue
            if subject.ip is None and finding.scope == "ip":
                _cap_for_hostname(finding)
            decision = self._decide(finding, subject, scored)
            if decision is not None:
                decisions.append(decision)
        return decisions

    def _subject_of(self, finding: Finding) -> Subject:
        state = self._clients.get(finding.value)
        if state is None:
            return Subject(finding.value, None if finding.scope != "range" else finding.value, None)
        return Subject(finding.value, state.ip, state.user_agent)

    def _decide(self, finding: Finding, subject: Subject, scored: ScoredEvent) -> Decision | None:
        now = scored.event.timestamp
        score = scored.score if subject.client == scored.event.client else None
        active = self.store.active_for(finding.value, finding.scenario, now)
        if active is not None:
            return self._extend(active, finding, now)

        escalation = self.policy.escalation
        repeat = self.store.record_offence(finding.value, finding.scenario, now, escalation.memory)
        duration = finding.duration
        if repeat > 1:
            duration = max(duration, min(duration * escalation.factor ** (repeat - 1), escalation.max_duration))
        action, severity = _escalate(
            finding.action, finding.severity, repeat, escalation.block_after, escalation.severity_every
        )
        es, en = list(finding.reasons_es), list(finding.reasons_en)
        if repeat > 1:
            es.append(f"Reincidencia n.º {repeat}: duración {format_duration(duration)}.")
            en.append(f"Repeat offence #{repeat}: duration {format_duration(duration)}.")
        if self.policy.simulate:
            es.append("Modo simulación: decisión registrada, no aplicada.")
            en.append("Simulation mode: decision recorded, not enforced.")
        decision = Decision(
            action=action,
            scope=finding.scope,
            value=finding.value,
            duration_seconds=duration,
            triggered_at=now,
            until=now + duration,
            severity=severity,
            confidence=finding.confidence,
            scenario=finding.scenario,
            client=subject.client,
            evidence=finding.evidence,
            reasons={"es": es, "en": en},
            simulated=self.policy.simulate,
            repeat=repeat,
            score=score,
            created_at=self.clock(),
        )
        self.store.add(decision)
        return decision

    def _extend(self, active: Decision, finding: Finding, now: float) -> Decision | None:
        """Push `until` later, or raise the action when the new finding is stronger."""
        stronger = ACTION_RANK[finding.action] > ACTION_RANK[active.action]
        until = now + max(active.base_duration_seconds, finding.duration if stronger else 0.0)
        if not stronger and until <= active.until:
            return None
        active.extend_to(until, now)
        if stronger:
            active.action = finding.action
            active.base_duration_seconds = max(active.base_duration_seconds, finding.duration)
            active.severity = max(active.severity, finding.severity, key=SEVERITIES.index)
            active.confidence = max(active.confidence, finding.confidence)
            active.evidence = finding.evidence
            active.reasons = {"es": finding.reasons_es, "en": finding.reasons_en}
        self.store.updated(active, "upgraded" if stronger else "extended")
        return active

    # Exemptions

    def _exempt(self, subject: Subject) -> bool:
        """Tell whether a client must never be acted on: loopback, trusted proxy or allow-listed."""
        if subject.ip is None:
            reason = "loopback" if subject.client.lower() in ("localhost", "localhost.localdomain") else None
        else:
            reason = self._ip_exemption(subject.ip)
        if reason is None and self._ua_allowed is not None and subject.user_agent:
            if self._ua_allowed.search(subject.user_agent[:UA_MATCH_LIMIT]):
                reason = "allowed_user_agent"
        if reason is None:
            return False
        self.skipped[reason] += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("decision skipped client=%r reason=%s", subject.client, reason)
        return True

    def _check_ip(self, ip: str) -> str | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if address.is_loopback:
            return "loopback"
        if any(address in network for network in self._never):
            return "trusted_proxy"
        if any(address in network for network in self._allowed):
            return "allowed_address"
        return None

    def _range_exempt(self, cidr: str) -> bool:
        network = ipaddress.ip_network(cidr)
        if network.is_loopback:
            return True
        return any(network.overlaps(other) for other in (*self._never, *self._allowed))


def _counts_as_failed_login(event: AccessEvent) -> bool:
    """Tell whether the event is a failed login for the login scenarios: a 401, or a failing POST to a login path.

    The ingestion agent counts every 403 as a failed login, so a scanner hitting forbidden
    pages would look like a password guesser. Only a 401 or a POST to a login-like path
    counts here. NOTE: `stats.failed_logins` still includes those 403s.
    """
    if not is_failed_login(event):
        return False
    if event.http_response_status_code == 401:
        return True
    return event.http_request_method == "POST" and LOGIN_PATH.search(event.url_path or "") is not None


def _is_scanner(features: Mapping[str, float], user_agent: str | None) -> bool:
    """Tell whether the user agent names a known scanner (sqlmap, Nikto, Nuclei, zgrab...)."""
    flag = features.get("ua_scanner")
    if flag is not None:
        return flag >= 1.0
    # `ua_kind` is also 1.0 for user agents with an injection pattern, and ordinary browsers
    # match one: the Indonesian locale "; id)" looks like a shell command. So the scanner
    # name itself must appear before the user agent counts as evidence.
    if features.get("ua_kind", 0.0) < 1.0 or not user_agent:
        return False
    return SCANNER_UA.search(user_agent[:UA_MATCH_LIMIT]) is not None


def _takes_part(config: CredentialStuffing, attempts: int, share: float, distinct_users: int) -> bool:
    """Tell whether a client's failed logins on an attacked endpoint look like a bot's, not a customer's."""
    if attempts < config.participant_failed_logins:
        return False
    return share >= config.participant_login_share or distinct_users >= config.participant_distinct_users


def _endpoint_attacked(config: CredentialStuffing, window: EndpointWindow, scale: float) -> bool:
    """Tell whether the endpoint's counts reach `scale` times the thresholds (1.0 to start, HYSTERESIS to stay)."""
    failed, clients, users = window.counts()
    return failed >= scale * config.endpoint_failed_logins and (
        clients >= scale * config.endpoint_clients or users >= scale * config.endpoint_users
    )


def _endpoint_thresholds(config: CredentialStuffing) -> tuple[int, int, int]:
    return config.endpoint_failed_logins, config.endpoint_clients, config.endpoint_users


def _held_thresholds(config: CredentialStuffing) -> tuple[int, int, int]:
    """Return the smallest counts that keep an endpoint under attack: half the thresholds, rounded up."""
    failed, clients, users = (math.ceil(HYSTERESIS * value) for value in _endpoint_thresholds(config))
    return failed, clients, users


def _endpoint_evidence(
    config: CredentialStuffing, window: EndpointWindow, path: str, window_s: int
) -> list[dict[str, Any]]:
    """Return the endpoint counts, each against the rule that applies: the threshold, or the hysteresis."""
    held = not _endpoint_attacked(config, window, 1.0)
    since = iso_utc(window.attack_since)
    names = ("endpoint_failed_logins", "endpoint_clients", "endpoint_users")
    units = (f"per {window_s} s on {path}", "clients", "users")
    rows = zip(names, window.counts(), _endpoint_thresholds(config), _held_thresholds(config), units, strict=True)
    evidence = []
    for name, value, threshold, minimum, unit in rows:
        if held and value < threshold:
            unit = f"{unit}; under attack since {since}, hysteresis at half the threshold of {threshold}"
            evidence.append(_evidence(name, value, minimum, unit, "hysteresis"))
        else:
            evidence.append(_evidence(name, value, threshold, unit, "threshold"))
    if held:
        start = window.attack_start[0]
        unit = f"per {window_s} s on {path} when the attack was detected at {since}"
        evidence.append(_evidence("endpoint_failed_logins_at_start", start, config.endpoint_failed_logins, unit,
                                  "threshold"))
    return evidence


def _endpoint_reasons(
    config: CredentialStuffing, window: EndpointWindow, path: str, window_s: int
) -> tuple[list[str], list[str]]:
    """Describe the attack on the endpoint; below the thresholds, say when it started and why it still counts."""
    now_es, now_en = _tally_es(*window.counts()), _tally_en(*window.counts())
    if _endpoint_attacked(config, window, 1.0):
        return (
            [f"Ataque de {STUFFING_FIRST_ES} contra {path}: {now_es} en {window_s} s."],
            [f"Credential stuffing against {path}: {now_en} in {window_s} s."],
        )
    since = clock_time(window.attack_since)
    threshold = config.endpoint_failed_logins
    failed, clients, users = _held_thresholds(config)
    es = [
        f"Ataque de {STUFFING_FIRST_ES} contra {path} desde las {since}, cuando llegó a "
        f"{_tally_es(*window.attack_start)} en {window_s} s (umbral {count(threshold, *LOGINS_ES)}).",
        f"Ahora hay {now_es}: el endpoint sigue bajo ataque mientras tenga al menos "
        f"{count(failed, *LOGINS_ES)} desde {count(clients, 'cliente', 'clientes')} o contra "
        f"{count(users, 'usuario', 'usuarios')} (la mitad de los umbrales).",
    ]
    en = [
        f"Credential stuffing against {path} since {since}, when it reached {_tally_en(*window.attack_start)} "
        f"in {window_s} s (threshold {count(threshold, *LOGINS_EN)}).",
        f"It now has {now_en}: the endpoint stays under attack while it has at least "
        f"{count(failed, *LOGINS_EN)} from {count(clients, 'client', 'clients')} or against "
        f"{count(users, 'user', 'users')} (half the thresholds).",
    ]
    return es, en


def _tally_es(failed: int, clients: int, users: int) -> str:
    return (
        f"{count(failed, *LOGINS_ES)} desde {count(clients, 'cliente', 'clientes')} contra "
        f"{count(users, 'usuario', 'usuarios')}"
    )


def _tally_en(failed: int, clients: int, users: int) -> str:
    return (
        f"{count(failed, *LOGINS_EN)} from {count(clients, 'client', 'clients')} against "
        f"{count(users, 'user', 'users')}"
    )


def _network_of(ip: str) -> str | None:
    """Return the /24 (IPv4) or /64 (IPv6) holding `ip`, or None when it is not an IP address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _escalate(action: str, severity: str, repeat: int, block_after: int, severity_every: int) -> tuple[str, str]:
    """Raise a repeat offender's rate limit to a block and its severity by one step every `severity_every`."""
    if action == "rate_limit" and block_after and repeat >= block_after:
        action = "block"
    if severity_every and repeat > 1:
        steps = (repeat - 1) // severity_every
        severity = SEVERITIES[min(SEVERITIES.index(severity) + steps, len(SEVERITIES) - 1)]
    return action, severity


def _cap_for_hostname(finding: Finding) -> None:
    """Lower a finding on a hostname client to at most an alert with scope "hostname"."""
    finding.scope = "hostname"
    if ACTION_RANK[finding.action] > ACTION_RANK["alert"]:
        finding.action = "alert"
        finding.reasons_es.append("Cliente registrado por nombre de host, sin IP: solo se alerta.")
        finding.reasons_en.append("Client logged by hostname without an IP: alert only.")
