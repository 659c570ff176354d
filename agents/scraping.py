"""Catalogue walks: per-client counts of catalogue pages and static assets for the scraping scenario.

A scraper requests many distinct product and category pages and few or none
of the images, styles and scripts a browser loads with each page. Counting
this for every client would cost a dictionary update per event, so a client
is followed only once its window (`ClientStats.requests`) reaches
`Scraping.script_pages` requests, the lower of the two page thresholds. The
counts therefore start then: a scraper is found about one window after it
becomes fast, not at its first request.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field

from agents.messages import ScoredEvent
from agents.policy import Scraping
from stream.signals import UA_TOOL

# Page and asset requests kept per followed client: at least four times the `pages`
# threshold, so memory stays bounded by this times `max_clients`, whatever the traffic.
MIN_WALK_EVENTS = 128
PAGE, ASSET, OTHER = 0, 1, 2
MAX_KINDS = 65_536  # paths whose kind is remembered


@dataclass(slots=True)
class CatalogueWalk:
    """One client's catalogue pages and assets within the window."""

    events: deque[tuple[float, int, str]] = field(default_factory=deque)
    pages: Counter[str] = field(default_factory=Counter)
    page_requests: int = 0
    assets: int = 0

    def add(self, now: float, kind: int, key: str, window: float, limit: int) -> None:
        self.events.append((now, kind, key))
        if kind == PAGE:
            self.pages[key] += 1
            self.page_requests += 1
        else:
            self.assets += 1
        while self.events and (now - self.events[0][0] > window or len(self.events) > limit):
            self._drop(*self.events.popleft())

    def _drop(self, _: float, kind: int, key: str) -> None:
        if kind == ASSET:
            self.assets -= 1
            return
        self.page_requests -= 1
        self.pages[key] -= 1
        if self.pages[key] <= 0:
            del self.pages[key]

    @property
    def distinct_pages(self) -> int:
        return len(self.pages)

    @property
    def asset_share(self) -> float:
        """Share of static assets among the page and asset requests, 0.0 with none."""
        total = self.page_requests + self.assets
        return self.assets / total if total else 0.0


@dataclass(slots=True)
class WalkVerdict:
    """A crossed scraping threshold: the walk, the user agent, and whether the script rule fired."""

    walk: CatalogueWalk
    script: bool
    user_agent: str | None


class CatalogueWalks:
    """Followed clients and their walks, at most `config.max_clients`, least recently seen out."""

    def __init__(self, config: Scraping, window: float) -> None:
        self._config = config
        self._window = window
        self._gate = min(config.pages, config.script_pages)
        self._limit = max(MIN_WALK_EVENTS, 4 * config.pages)
        self._page = re.compile(config.page_paths)
        self._asset = re.compile(config.asset_paths)
        self._walks: OrderedDict[str, CatalogueWalk] = OrderedDict()
        self._kinds: dict[str, int] = {}

    @property
    def gate(self) -> int:
        """Window requests from which a client is followed."""
        return self._gate

    @property
    def followed(self) -> OrderedDict[str, CatalogueWalk]:
        """The followed clients and their walks (read-only use: `observe` keeps them)."""
        return self._walks

    def observe(self, scored: ScoredEvent) -> WalkVerdict | None:
        """Count this event when its client is followed; return a verdict when a threshold is crossed."""
        client = scored.event.client
        walk = self._walks.get(client)
        if walk is None:
            if scored.stats.requests < self._gate:
                return None
            walk = self._follow(client)
        else:
            self._walks.move_to_end(client)

        event = scored.event
        path = event.url_path or ""
        kind = self._kinds.get(path)
        if kind is None:
            kind = self._kind_of(path)
        if kind == ASSET:
            walk.add(event.timestamp, ASSET, "", self._window, self._limit)
        elif kind == PAGE:
            key = path + ("?" + event.url_query if event.url_query else "")
            walk.add(event.timestamp, PAGE, key, self._window, self._limit)
        else:
            return None
        return self._verdict(walk, scored)

    def _kind_of(self, path: str) -> int:
        """Return ASSET, PAGE or OTHER for `path`, remembered in a cache emptied at `MAX_KINDS` entries."""
        if self._asset.search(path):
            kind = ASSET
        elif self._page.search(path):
            kind = PAGE
        else:
            kind = OTHER
        if len(self._kinds) >= MAX_KINDS:
            self._kinds.clear()
        self._kinds[path] = kind
        return kind

    def _follow(self, client: str) -> CatalogueWalk:
        walk = CatalogueWalk()
        self._walks[client] = walk
        if len(self._walks) > self._config.max_clients:
            self._walks.popitem(last=False)
        return walk

    def _verdict(self, walk: CatalogueWalk, scored: ScoredEvent) -> WalkVerdict | None:
        config = self._config
        pages = walk.distinct_pages
        if pages < self._gate:
            return None
        script = scored.features.get("ua_kind", 0.0) == UA_TOOL
        if script and pages >= config.script_pages:
            return WalkVerdict(walk, True, scored.event.user_agent_original)
        if pages >= config.pages and walk.asset_share <= config.max_asset_share:
            return WalkVerdict(walk, False, scored.event.user_agent_original)
        return None
