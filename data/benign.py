"""Benign traffic of the simulated shop: customers, crawlers, monitors and a partner feed.

Customer sessions arrive as a Poisson process whose rate follows the local
hour of day. Each session belongs to a customer drawn from a Zipf-Mandelbrot
population, so a few customers come back many times and most come once.
Browsers walk home → category → product → cart → checkout, search, and log
in. Customers mistype their password now and then. The mobile app does the
same through /api/v1. Background clients run on their own clocks: a Kubernetes probe on
/health every 10 s, an uptime monitor every minute, Googlebot and bingbot,
link-preview fetchers and a partner that pulls the product feed.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from data import catalog as site
from data.addresses import AddressPool
from data.catalog import Catalog
from data.records import Hit

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# Relative session arrival rate for each local hour (1.0 = the evening peak).
HOURLY_PROFILE = (
    0.35, 0.22, 0.14, 0.10, 0.08, 0.10, 0.20, 0.38, 0.58, 0.75, 0.86, 0.93,
    1.00, 0.97, 0.88, 0.84, 0.86, 0.90, 0.94, 0.98, 1.00, 0.98, 0.80, 0.55,
)
PEAK_SESSIONS_PER_S = 0.05
CUSTOMERS = 50_000
PROBE_INTERVAL_MS = 10_000
PROBE_ADDRESS = "10.42.0.1"
GOOGLEBOT_ADDRESSES = ("66.249.66.1", "66.249.66.35", "66.249.68.7", "66.249.79.12", "66.249.79.140")
BINGBOT_ADDRESSES = ("157.55.39.11", "157.55.39.208", "207.46.13.91", "40.77.167.44")
GOOGLEBOT_AGENTS = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.118 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html) Chrome/124.0.6367.118 Safari/537.36",
)
BINGBOT_AGENT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
    "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36"
)

# Page sizes in bytes before per-request jitter.
PAGE_BYTES = {
    "home": 64_000, "category": 48_000, "product": 52_000, "search": 41_000, "cart": 22_000,
    "checkout": 18_000, "login": 12_400, "account": 26_000, "not_found": 9_800, "error": 1_420,
}
# Next page of a browsing session, by current page.
TRANSITIONS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "home": (("category", "search", "product", "login", "account"), (0.35, 0.25, 0.30, 0.05, 0.05)),
    "category": (("product", "category", "search", "home", "cart"), (0.55, 0.15, 0.15, 0.05, 0.10)),
    "product": (
        ("product", "category", "search", "add_to_cart", "cart", "home"),
        (0.30, 0.15, 0.12, 0.25, 0.08, 0.10),
    ),
    "search": (("product", "search", "category", "home"), (0.60, 0.20, 0.10, 0.10)),
    "add_to_cart": (("checkout", "product", "category"), (0.45, 0.35, 0.20)),
    "cart": (("checkout", "product", "home"), (0.55, 0.30, 0.15)),
    "login": (("account", "home", "cart"), (0.40, 0.30, 0.30)),
    "account": (("home", "product"), (0.50, 0.50)),
    "checkout": (("account", "home"), (0.30, 0.70)),
}


@dataclass(slots=True)
class Customer:
    client: str
    agent: str
    device: str  # "desktop", "mobile" or "app"
    account: str
    returning: bool
    typo_rate: float


@dataclass(slots=True)
class Visit:
    """The state of one browsing session while it is generated."""

    customer: Customer
    t_ms: int
    hits: list[Hit] = field(default_factory=list)
    page_url: str = "-"
    logged_in: bool = False
    assets_loaded: bool = False


class BenignTraffic:
    """Generate benign requests from `start_ms`, in time order, until enough exist."""

    def __init__(self, rng: random.Random, start_ms: int, utc_offset_ms: int, addresses: AddressPool) -> None:
        self.rng = rng
        self.start_ms = start_ms
        self.utc_offset_ms = utc_offset_ms
        self.addresses = addresses
        self.catalog: Catalog = site.build_catalog()
        self.customers: dict[int, Customer] = {}
        self.shared_mobile = [addresses.take("residential") for _ in range(12)]
        weights = (1.0 / (rank + 20) ** 1.1 for rank in range(CUSTOMERS))
        self.customer_weights = list(itertools.accumulate(weights))
        self.probe = addresses.reserve(PROBE_ADDRESS)
        self.google = [addresses.reserve(a) for a in GOOGLEBOT_ADDRESSES]
        self.bing = [addresses.reserve(a) for a in BINGBOT_ADDRESSES]
        self.uptime = addresses.take("hosting")
        self.partner = addresses.take("hosting")

    def generate(self, count: int) -> list[Hit]:
        """Return the first `count` benign hits in time order."""
        hits: list[Hit] = []
        hour = self.start_ms
        while True:
            end = hour + HOUR_MS
            self._sessions(hour, end, hits)
            self._background(hour, end, hits)
            hour = end
            # Hits before `hour` are final: every later session starts at or after it.
            if sum(1 for hit in hits if hit.ts_ms < hour) >= count:
                break
        hits.sort(key=lambda hit: hit.ts_ms)
        return hits[:count]

    # Customer sessions

    def _hour_rate(self, t_ms: int) -> float:
        local_hours = ((t_ms + self.utc_offset_ms) % DAY_MS) / HOUR_MS
        low = int(local_hours)
        frac = local_hours - low
        return HOURLY_PROFILE[low] * (1 - frac) + HOURLY_PROFILE[(low + 1) % 24] * frac

    def _sessions(self, begin: int, end: int, hits: list[Hit]) -> None:
        t = begin
        while True:
            # Thinning: candidates at the peak rate, kept with the current hour's share.
            t += int(self.rng.expovariate(PEAK_SESSIONS_PER_S) * 1000)
            if t >= end:
                return
            if self.rng.random() < self._hour_rate(t):
                customer = self._customer()
                session = self._app_session if customer.device == "app" else self._web_session
                hits.extend(session(customer, t))

    def _customer(self) -> Customer:
        rank = bisect.bisect_left(self.customer_weights, self.rng.random() * self.customer_weights[-1])
        customer = self.customers.get(rank)
        if customer is None:
            customer = self._new_customer()
            self.customers[rank] = customer
        return customer

    def _new_customer(self) -> Customer:
        rng = self.rng
        device = rng.choices(("desktop", "mobile", "app"), weights=(0.38, 0.37, 0.25))[0]
        agents = {"desktop": site.DESKTOP_AGENTS, "mobile": site.MOBILE_AGENTS, "app": site.APP_AGENTS}
        if device != "desktop" and rng.random() < 0.1:
            client = rng.choice(self.shared_mobile)  # carrier-grade NAT: many phones, one address
        else:
            client = self.addresses.take("customer")
        return Customer(
            client=client,
            agent=rng.choice(agents[device]),
            device=device,
            account=site.account_name(rng),
            returning=rng.random() < 0.6,
            typo_rate=rng.choice((0.05, 0.1, 0.2)),
        )

    def _emit(
        self, visit: Visit, method: str, target: str, status: int, size: int,
        referrer: str | None = None, user: str = "-",
    ) -> None:
        customer = visit.customer
        version = "HTTP/1.1" if customer.device == "app" else "HTTP/2.0"
        if referrer is None:
            referrer = "-" if customer.device == "app" else visit.page_url
        visit.hits.append(
            Hit(visit.t_ms, customer.client, method, target, status, size, referrer, customer.agent, user, version)
        )

    def _jitter(self, base: int) -> int:
        return int(base * self.rng.lognormvariate(0, 0.08))

    def _think(self, visit: Visit, median_s: float) -> None:
        visit.t_ms += int(self.rng.lognormvariate(0, 1.0) * median_s * 1000) + 300

    def _web_session(self, customer: Customer, t_ms: int) -> list[Hit]:
        rng = self.rng
        visit = Visit(customer, t_ms)
        page, referrer = self._landing()
        pages = max(1, int(rng.lognormvariate(1.6, 0.8)))
        for step in range(pages):
            nxt = self._page(visit, page, referrer if step == 0 else None)
            if nxt is None:
                break
            page = nxt
            self._think(visit, 12.0)
        return visit.hits

    def _landing(self) -> tuple[str, str]:
        roll = self.rng.random()
        if roll < 0.35:
            return "home", "-"
        if roll < 0.65:
            return "product", self.rng.choice(site.SEARCH_REFERRERS)
        if roll < 0.85:
            return "category", self.rng.choice((*site.SOCIAL_REFERRERS, "-"))
        return "search", "-"

    def _page(self, visit: Visit, page: str, referrer: str | None) -> str | None:
        """Emit one page view with its assets and return the next page, or None to end the visit."""
        render: dict[str, Callable[[Visit], str]] = {
            "home": self._home, "category": self._category, "product": self._product,
            "search": self._search, "add_to_cart": self._add_to_cart, "cart": self._cart,
            "login": self._login_page, "account": self._account, "checkout": self._checkout,
        }
        if referrer is not None:
            visit.page_url = referrer
        url = render[page](visit)
        visit.page_url = site.SITE + url
        if page == "checkout" and visit.hits[-1].status == 200 and "confirmacion" in url:
            return None if self.rng.random() < 0.7 else "account"
        names, weights = TRANSITIONS[page]
        return self.rng.choices(names, weights=weights)[0]

    def _html(self, visit: Visit, method: str, target: str, kind: str, status: int = 200) -> None:
        if status == 200 and self.rng.random() < 0.001:
            status = 500
        size = self._jitter(PAGE_BYTES["error" if status == 500 else kind])
        self._emit(visit, method, target, status, size)
        self._assets(visit, target)

    def _assets(self, visit: Visit, page: str) -> None:
        rng = self.rng
        referrer = site.SITE + page
        cached = visit.customer.returning or visit.assets_loaded
        files = () if visit.assets_loaded and rng.random() < 0.8 else site.PAGE_ASSETS
        for path, size in files:
            visit.t_ms += rng.randint(5, 120)
            status = 304 if cached and rng.random() < 0.85 else 200
            self._emit(visit, "GET", path, status, 0 if status == 304 else size, referrer=referrer)
        if not visit.assets_loaded and not visit.customer.returning:
            self._emit(visit, "GET", site.FAVICON[0], 200, site.FAVICON[1], referrer=referrer)
        visit.assets_loaded = True
        if rng.random() < 0.5:
            visit.t_ms += rng.randint(50, 400)
            self._emit(visit, "GET", "/api/v1/cart", 200, self._jitter(640), referrer=referrer)

    def _images(self, visit: Visit, product_ids: list[int], suffix: str) -> None:
        for pid in product_ids:
            visit.t_ms += self.rng.randint(10, 200)
            path = f"/img/productos/{pid}-{suffix}.webp"
            status = 304 if visit.customer.returning and self.rng.random() < 0.4 else 200
            size = 0 if status == 304 else self.catalog.size_of(path, 8_000, 180_000)
            self._emit(visit, "GET", path, status, size, referrer=visit.page_url)

    def _home(self, visit: Visit) -> str:
        self._html(visit, "GET", "/", "home")
        visit.page_url = site.SITE + "/"
        for path, size in self.rng.sample(site.BANNERS, 2):
            self._emit(visit, "GET", path, 200, size, referrer=visit.page_url)
        return "/"

    def _category(self, visit: Visit) -> str:
        rng = self.rng
        url = "/categoria/" + rng.choice(site.CATEGORIES)
        if rng.random() < 0.3:
            url += f"?page={rng.randint(2, 6)}"
        self._html(visit, "GET", url, "category")
        visit.page_url = site.SITE + url
        thumbs = [self.catalog.product_id(self.catalog.pick_product(rng)) for _ in range(rng.randint(3, 8))]
        self._images(visit, thumbs, "thumb")
        return url

    def _product(self, visit: Visit) -> str:
        index = self.catalog.pick_product(self.rng)
        pid = self.catalog.product_id(index)
        url = self.catalog.product_paths[index]
        if pid in self.catalog.missing_ids:
            self._html(visit, "GET", url, "not_found", status=404)
            return url
        self._html(visit, "GET", url, "product")
        visit.page_url = site.SITE + url
        for photo in range(1, self.rng.randint(2, 4)):
            self._images(visit, [pid], str(photo))
        return url

    def _search(self, visit: Visit) -> str:
        url = "/buscar?" + site.search_query(self.rng)
        self._html(visit, "GET", url, "search")
        visit.page_url = site.SITE + url
        thumbs = [self.catalog.product_id(self.catalog.pick_product(self.rng)) for _ in range(3)]
        self._images(visit, thumbs, "thumb")
        return url

    def _add_to_cart(self, visit: Visit) -> str:
        self._emit(visit, "POST", "/carrito/agregar", 302, 0)
        visit.t_ms += self.rng.randint(80, 400)
        return self._cart(visit)

    def _cart(self, visit: Visit) -> str:
        self._html(visit, "GET", "/carrito", "cart")
        return "/carrito"

    def _login_page(self, visit: Visit) -> str:
        self._html(visit, "GET", "/login", "login")
        visit.page_url = site.SITE + "/login"
        self._sign_in(visit, "/login")
        return "/login"

    def _sign_in(self, visit: Visit, endpoint: str) -> None:
        """Post credentials; a real customer mistypes now and then and retries."""
        rng = self.rng
        account = visit.customer.account
        api = endpoint.startswith("/api/")
        for attempt in range(4):
            self._think(visit, 6.0)
            if rng.random() >= visit.customer.typo_rate * (1 + attempt):
                status, size = (200, self._jitter(980)) if api else (302, 0)
                self._emit(visit, "POST", endpoint, status, size, user=account)
                visit.logged_in = True
                return
            size = 61 if api else self._jitter(PAGE_BYTES["login"])
            self._emit(visit, "POST", endpoint, 401, size, user=account)
        if not api:
            self._think(visit, 4.0)
            self._html(visit, "GET", "/cuenta/recuperar", "login")

    def _account(self, visit: Visit) -> str:
        if not visit.logged_in:
            self._emit(visit, "GET", "/cuenta", 302, 0)
            return self._login_page(visit)
        url = self.rng.choice(("/cuenta", "/cuenta/pedidos", "/cuenta/direcciones"))
        self._html(visit, "GET", url, "account")
        return url

    def _checkout(self, visit: Visit) -> str:
        if not visit.logged_in:
            self._login_page(visit)
            if not visit.logged_in:
                return "/login"
        for step in ("/checkout", "/checkout/envio", "/checkout/pago"):
            self._html(visit, "GET", step, "checkout")
            visit.page_url = site.SITE + step
            self._think(visit, 20.0)
        status = 500 if self.rng.random() < 0.003 else 302
        self._emit(visit, "POST", "/checkout/pago", status, PAGE_BYTES["error"] if status == 500 else 0)
        if status == 500:
            return "/checkout/pago"
        visit.t_ms += self.rng.randint(300, 1500)
        self._html(visit, "GET", "/checkout/confirmacion", "checkout")
        return "/checkout/confirmacion"

    # Mobile app sessions

    def _app_session(self, customer: Customer, t_ms: int) -> list[Hit]:
        rng = self.rng
        visit = Visit(customer, t_ms)
        self._emit(visit, "GET", "/api/v1/config", 200 if rng.random() < 0.7 else 304, self._jitter(1_200))
        self._emit(visit, "GET", "/api/v1/banners", 200, self._jitter(3_100))
        actions = max(1, int(rng.lognormvariate(1.7, 0.8)))
        for _ in range(actions):
            self._think(visit, 8.0)
            self._app_action(visit)
        return visit.hits

    def _app_action(self, visit: Visit) -> None:
        rng = self.rng
        action = rng.choices(
            ("list", "detail", "search", "cart_add", "cart", "login", "order"),
            weights=(0.25, 0.35, 0.15, 0.10, 0.07, 0.04, 0.04),
        )[0]
        if action == "list":
            query = f"categoria={rng.choice(site.CATEGORIES)}&page={rng.randint(1, 4)}"
            self._emit(visit, "GET", "/api/v1/products?" + query, 200, self._jitter(14_000))
        elif action == "detail":
            index = self.catalog.pick_product(rng)
            pid = self.catalog.product_id(index)
            found = pid not in self.catalog.missing_ids
            self._emit(visit, "GET", f"/api/v1/products/{pid}", 200 if found else 404,
                       self._jitter(4_200) if found else 74)
            if found:
                self._images(visit, [pid], "1")
        elif action == "search":
            self._emit(visit, "GET", "/api/v1/search?" + site.search_query(rng), 200, self._jitter(9_000))
        elif action == "cart_add":
            self._emit(visit, "POST", "/api/v1/cart/items", 201, self._jitter(720))
        elif action == "cart":
            self._emit(visit, "GET", "/api/v1/cart", 200, self._jitter(900))
        elif action == "login" or not visit.logged_in:
            self._sign_in(visit, "/api/v1/auth/login")
        else:
            status = 500 if rng.random() < 0.003 else 201
            self._emit(visit, "POST", "/api/v1/orders", status, self._jitter(1_500 if status == 201 else 120))

    # Clients on their own clock

    def _background(self, begin: int, end: int, hits: list[Hit]) -> None:
        self._probe(begin, end, hits)
        self._uptime(begin, end, hits)
        self._crawler(begin, end, hits, self.google, GOOGLEBOT_AGENTS, mean_gap_s=30.0)
        self._crawler(begin, end, hits, self.bing, (BINGBOT_AGENT,), mean_gap_s=75.0)
        self._previews(begin, end, hits)
        self._partner_feed(begin, end, hits)

    def _probe(self, begin: int, end: int, hits: list[Hit]) -> None:
        for tick in range(begin, end, PROBE_INTERVAL_MS):
            status = 503 if self.rng.random() < 0.0005 else 200
            hits.append(Hit(tick + self.rng.randint(0, 40), self.probe, "GET", "/health", status,
                            15 if status == 200 else 19, agent="kube-probe/1.29"))

    def _uptime(self, begin: int, end: int, hits: list[Hit]) -> None:
        agent = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
        for tick in range(begin, end, 60_000):
            hits.append(Hit(tick + self.rng.randint(0, 900), self.uptime, "HEAD", "/", 200, 0, agent=agent))

    def _crawler(
        self, begin: int, end: int, hits: list[Hit], addresses: list[str], agents: tuple[str, ...],
        mean_gap_s: float,
    ) -> None:
        rng = self.rng
        t = begin
        while True:
            t += int(rng.expovariate(1 / mean_gap_s) * 1000)
            if t >= end:
                return
            target, status, size = self._crawl_target()
            hits.append(Hit(t, rng.choice(addresses), "GET", target, status, size, agent=rng.choice(agents)))

    def _crawl_target(self) -> tuple[str, int, int]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.02:
            return "/robots.txt", 200, 412
        if roll < 0.05:
            return f"/sitemap-productos-{rng.randint(1, 5)}.xml", 200, self._jitter(98_000)
        if roll < 0.20:
            return f"/categoria/{rng.choice(site.CATEGORIES)}?page={rng.randint(1, 12)}", 200, \
                self._jitter(PAGE_BYTES["category"])
        index = rng.randrange(len(self.catalog.product_paths))
        if self.catalog.product_id(index) in self.catalog.missing_ids:
            return self.catalog.product_paths[index], 404, self._jitter(PAGE_BYTES["not_found"])
        status = 304 if rng.random() < 0.15 else 200
        return self.catalog.product_paths[index], status, 0 if status == 304 else self._jitter(PAGE_BYTES["product"])

    def _previews(self, begin: int, end: int, hits: list[Hit]) -> None:
        """Fetch link previews: a customer shares a product and the messenger fetches the page."""
        rng = self.rng
        t = begin
        while True:
            t += int(rng.expovariate(1 / 400) * 1000)
            if t >= end:
                return
            agent = rng.choice(("WhatsApp/2.24.6.77 A", "WhatsApp/2.24.5.76 i", "TelegramBot (like TwitterBot)"))
            client = self._customer().client
            path = self.catalog.product_paths[self.catalog.pick_product(rng)]
            hits.append(Hit(t, client, "GET", path, 200, self._jitter(PAGE_BYTES["product"]), agent=agent))

    def _partner_feed(self, begin: int, end: int, hits: list[Hit]) -> None:
        """Pull the product feed every 30 minutes, as a price-comparison partner's script does."""
        for run in range(begin, end, 30 * 60_000):
            t = run + self.rng.randint(0, 20_000)
            for page in range(1, 6):
                t += self.rng.randint(400, 2_500)
                hits.append(Hit(t, self.partner, "GET", f"/api/v1/catalogo/feed?pagina={page}", 200,
                                self._jitter(310_000), agent="python-requests/2.31.0"))
