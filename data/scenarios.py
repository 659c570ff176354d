"""Labelled attack scenarios mixed into the benign traffic.

Each scenario runs as one or more campaigns. A campaign is generated on its
own clock starting at 0 ms, then moved to a random start inside the benign
traffic's time span, so attacks interleave with real customers. Every
campaign returns exactly the number of requests it was given, and every
attacker address is used by one campaign only.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from data import catalog as site
from data import payloads
from data.addresses import AddressPool
from data.catalog import Catalog
from data.records import Hit

NAMES = ("brute_force", "credential_stuffing", "scanning", "injection", "scanner_ua", "flood", "scraping")
# Share of the attack budget per scenario; renormalised over the scenarios selected.
SHARES = {
    "brute_force": 0.17, "credential_stuffing": 0.15, "scanning": 0.14, "injection": 0.10,
    "scanner_ua": 0.08, "flood": 0.22, "scraping": 0.14,
}
# Requests per campaign (low, high) before the budget clips the last one.
CAMPAIGN_SIZES = {
    "brute_force": (80, 700), "credential_stuffing": (150, 1_200), "scanning": (60, 700),
    "injection": (30, 350), "scanner_ua": (10, 300), "flood": (600, 4_000), "scraping": (200, 1_800),
}
SCRIPT_AGENTS = (
    "python-requests/2.31.0", "curl/7.81.0", "Go-http-client/1.1", "Scrapy/2.11.0 (+https://scrapy.org)",
    "Java/17.0.9", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "okhttp/4.12.0",
)
BROWSER_AGENTS = site.DESKTOP_AGENTS + site.MOBILE_AGENTS


@dataclass(slots=True)
class Context:
    rng: random.Random
    addresses: AddressPool
    catalog: Catalog

    def attacker(self, hosting_share: float) -> str:
        return self.addresses.take("hosting" if self.rng.random() < hosting_share else "residential")

    def gap_ms(self, per_minute: float) -> int:
        """Return an exponential gap between requests sent at `per_minute` on average."""
        return int(self.rng.expovariate(per_minute / 60_000)) + 1


Campaign = Callable[[Context, int], list[Hit]]


def brute_force(ctx: Context, size: int) -> list[Hit]:
    """Guess passwords from one address for a few accounts at tens to hundreds of tries per minute."""
    rng = ctx.rng
    client = ctx.attacker(0.65)
    agent = rng.choice(("Mozilla/4.0 (Hydra)", *SCRIPT_AGENTS[:3], *site.DESKTOP_AGENTS[:2]))
    api = rng.random() < 0.4
    endpoint = "/api/v1/auth/login" if api else "/login"
    accounts = ["admin", "administrador", site.account_name(rng)][: rng.randint(1, 3)]
    per_minute = rng.uniform(20, 300)
    pause_every = rng.choice((0, 0, 50, 100))
    hits: list[Hit] = []
    t = 0
    if not api and size > 1:
        hits.append(Hit(t, client, "GET", "/login", 200, 12_400, agent=agent))
    while len(hits) < size:
        t += ctx.gap_ms(per_minute)
        if pause_every and hits and len(hits) % pause_every == 0:
            t += rng.randint(60_000, 300_000)  # waits out a lockout, then resumes
        success = len(hits) == size - 1 and rng.random() < 0.1
        status, body = (200 if api else 302, 0) if success else (401, 61 if api else 12_400)
        hits.append(Hit(t, client, "POST", endpoint, status, body, agent=agent, user=rng.choice(accounts)))
    return hits


def credential_stuffing(ctx: Context, size: int) -> list[Hit]:
    """Try leaked credentials from many residential addresses, a few each, against one login endpoint."""
    rng = ctx.rng
    endpoint = rng.choice(("/login", "/api/v1/auth/login"))
    duration_ms = int(rng.uniform(10, 90) * 60_000)
    hits: list[Hit] = []
    while len(hits) < size:
        client = ctx.addresses.take("residential")
        agent = rng.choice(BROWSER_AGENTS)
        t = rng.randint(0, duration_ms)
        tries = min(size - len(hits), rng.randint(1, 5))
        if endpoint == "/login" and tries >= 2 and rng.random() < 0.5:
            hits.append(Hit(t, client, "GET", "/login", 200, 12_400, agent=agent, version="HTTP/2.0"))
            tries -= 1
        for _ in range(tries):
            t += rng.randint(800, 20_000)
            api = endpoint.startswith("/api/")
            if rng.random() < 0.015:
                status, body = (200, 980) if api else (302, 0)
            else:
                status, body = 401, (61 if api else 12_400)
            hits.append(Hit(t, client, "POST", endpoint, status, body, agent=agent, user=_leaked_account(rng),
                            version="HTTP/2.0"))
    return hits


def _leaked_account(rng: random.Random) -> str:
    if rng.random() < 0.6:
        provider = rng.choice(("mail", "correo", "webmail"))
        return f"{rng.choice(site.FIRST_NAMES)}{rng.randint(1, 9999)}@{provider}.example"
    return site.account_name(rng)


def scanning(ctx: Context, size: int) -> list[Hit]:
    """Scan for sensitive files and directories from one to three addresses, in bursts of 404s."""
    rng = ctx.rng
    clients = [ctx.attacker(0.8) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    agents = {c: rng.choice((*SCRIPT_AGENTS[:3], "gobuster/3.6", site.DESKTOP_AGENTS[4])) for c in clients}
    wordlist = payloads.scan_wordlist(rng)
    per_minute = rng.uniform(120, 900)
    hits: list[Hit] = []
    t = 0
    for n in range(size):
        t += ctx.gap_ms(per_minute)
        if n and n % rng.randint(60, 150) == 0:
            t += rng.randint(5_000, 60_000)
        path = wordlist[n % len(wordlist)]
        if n >= len(wordlist):
            path = path.rstrip("/") + rng.choice(("~", ".old", ".orig", ".swp", "/index.php"))
        status, body = payloads.scan_status(path)
        client = clients[n % len(clients)]
        method = "HEAD" if rng.random() < 0.1 else "GET"
        hits.append(Hit(t, client, method, path, status, 0 if method == "HEAD" else body, agent=agents[client]))
    return hits


def injection(ctx: Context, size: int) -> list[Hit]:
    """Send SQLi, XSS, traversal, command and JNDI payloads from one address in queries, paths and headers."""
    rng = ctx.rng
    client = ctx.attacker(0.7)
    agent = rng.choice((*site.DESKTOP_AGENTS, "curl/8.5.0", "python-requests/2.31.0"))
    automated = rng.random() < 0.6
    hits: list[Hit] = []
    t = 0
    for _ in range(size):
        t += ctx.gap_ms(rng.uniform(30, 180)) if automated else rng.randint(3_000, 40_000)
        hits.append(_injection_request(ctx, t, client, agent))
    return hits


def _injection_request(ctx: Context, t: int, client: str, agent: str) -> Hit:
    rng = ctx.rng
    family = rng.choice(tuple(payloads.FAMILIES))
    payload = rng.choice(payloads.FAMILIES[family])
    place = rng.choices(("query", "path", "agent", "referrer"), weights=(0.65, 0.15, 0.12, 0.08))[0]
    target, referrer = "/buscar?q=zapatillas", "-"
    if place == "query":
        base = rng.choice(("/buscar?q=", "/api/v1/products?categoria=", "/api/v1/search?q=", "/login?next=",
                           "/categoria/hogar?page=", f"/api/v1/products/{rng.randint(10_000, 12_499)}?fields="))
        target = base + payloads.encode(rng, payload)
    elif place == "path":
        base = rng.choice(("/producto/", "/static/", "/img/productos/", "/api/v1/products/"))
        target = base + payloads.encode(rng, payload).lstrip("/")
    elif place == "agent":
        agent = payloads.SHELLSHOCK if rng.random() < 0.25 else payload
    else:
        referrer = payload
    status = rng.choices((200, 400, 403, 404, 500), weights=(0.30, 0.15, 0.30, 0.15, 0.10))[0]
    if place == "path" and status == 200:
        status = 404
    body = {200: rng.randint(9_000, 48_000), 400: 166, 403: 153, 404: 9_800, 500: 1_420}[status]
    return Hit(t, client, "GET", target, status, body, referrer=referrer, agent=agent)


def scanner_ua(ctx: Context, size: int) -> list[Hit]:
    """Probe at a moderate pace with a known scanner that its user agent gives away."""
    tool = ctx.rng.choice(tuple(payloads.SCANNER_AGENTS))
    if tool in ("zgrab", "masscan"):
        return _internet_survey(ctx, size, tool)
    return _tool_probe(ctx, size, tool)


def _internet_survey(ctx: Context, size: int, tool: str) -> list[Hit]:
    """Survey like internet-wide scanners do: many addresses, one or two requests to / each."""
    rng = ctx.rng
    agent = payloads.SCANNER_AGENTS[tool]
    version = "HTTP/1.0" if tool == "masscan" else "HTTP/1.1"
    hits: list[Hit] = []
    t = 0
    while len(hits) < size:
        client = ctx.attacker(0.9)
        t += rng.randint(20_000, 600_000)
        for _ in range(min(size - len(hits), rng.choice((1, 1, 2)))):
            hits.append(Hit(t, client, "GET", "/", 200 if version == "HTTP/1.1" else 400,
                            64_000 if version == "HTTP/1.1" else 166, agent=agent, version=version))
            t += rng.randint(100, 2_000)
    return hits


def _tool_probe(ctx: Context, size: int, tool: str) -> list[Hit]:
    rng = ctx.rng
    client = ctx.attacker(0.85)
    per_minute = rng.uniform(10, 120)
    hits: list[Hit] = []
    t = 0
    for n in range(size):
        t += ctx.gap_ms(per_minute)
        method, target, version, status = _tool_request(rng, tool, n)
        agent = payloads.SCANNER_AGENTS[tool].format(test=f"{rng.randint(0, 999_999):06d}")
        body = {200: 41_000, 400: 166, 403: 153, 404: 9_800, 405: 157, 500: 1_420}[status]
        hits.append(Hit(t, client, method, target, status, body, agent=agent, version=version))
    return hits


def _tool_request(rng: random.Random, tool: str, n: int) -> tuple[str, str, str, int]:
    """Return (method, target, HTTP version, status) of the n-th request of a scanner."""
    if tool == "nmap":
        method, target, version = payloads.NMAP_REQUESTS[n % len(payloads.NMAP_REQUESTS)]
        if method in ("OPTIONS", "PROPFIND", "POST"):
            return method, target, version, 405
        return method, target, version, 200 if target == "/" else 404
    if tool == "sqlmap":
        mark = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") for _ in range(4))
        number = rng.randint(1000, 9999)
        target = f"/buscar?q=zapatillas%27%20AND%20{number}%3D{number}%20AND%20%27{mark}%27%3D%27{mark}"
        return "GET", target, "HTTP/1.1", rng.choice((200, 200, 500))
    if tool == "nikto":
        if rng.random() < 0.3:
            name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
            return "GET", f"/{name}.{rng.choice(('php', 'asp', 'cgi', 'html', 'bak'))}", "HTTP/1.1", 404
        path = rng.choice(payloads.NIKTO_PATHS)
        return "GET", path, "HTTP/1.1", 403 if path == "/server-status" else 404
    if tool == "nuclei":
        return "GET", rng.choice(payloads.NUCLEI_PATHS), "HTTP/1.1", rng.choice((404, 404, 403, 400))
    target = rng.choice(payloads.ACUNETIX_TARGETS)
    return "GET", target, "HTTP/1.1", rng.choice((404, 200, 403, 500))


def flood(ctx: Context, size: int) -> list[Hit]:
    """Send hundreds to thousands of requests per minute to a few URLs from one to three addresses."""
    rng = ctx.rng
    clients = [ctx.attacker(0.6) for _ in range(rng.choice((1, 1, 2, 3)))]
    urls = rng.sample(("/", "/buscar?q=ofertas", "/api/v1/products?page=1", "/login", "/categoria/ofertas",
                       "/api/v1/search?q=celular"), rng.randint(1, 3))
    agent = rng.choice(("Go-http-client/1.1", "-", "Mozilla/5.0", site.DESKTOP_AGENTS[0], "python-httpx/0.27.0"))
    per_minute = rng.uniform(300, 3_000)
    hits: list[Hit] = []
    t = 0
    for n in range(size):
        t += ctx.gap_ms(per_minute)
        # The origin saturates as the flood goes on: more 502/503/504 and fewer full pages.
        overload = min(0.45, 0.6 * n / size)
        status = rng.choices((200, 503, 502, 504), weights=(1 - overload, overload * 0.7, overload * 0.2,
                                                            overload * 0.1))[0]
        body = rng.randint(30_000, 64_000) if status == 200 else 197
        hits.append(Hit(t, rng.choice(clients), "GET", rng.choice(urls), status, body, agent=agent))
    return hits


def scraping(ctx: Context, size: int) -> list[Hit]:
    """Walk the catalogue fast from one address with a script or rotating browser agents, fetching few assets."""
    rng = ctx.rng
    client = ctx.attacker(0.75)
    rotating = rng.random() < 0.35
    script = rng.choice(SCRIPT_AGENTS)
    per_minute = rng.uniform(30, 150)
    index = rng.randrange(len(ctx.catalog.product_paths))
    hits: list[Hit] = []
    t = 0
    listing = "-"
    while len(hits) < size:
        t += ctx.gap_ms(per_minute)
        agent = rng.choice(BROWSER_AGENTS) if rotating else script
        if len(hits) % 25 == 0:
            listing = f"/categoria/{rng.choice(site.CATEGORIES)}?page={len(hits) // 25 + 1}"
            hits.append(Hit(t, client, "GET", listing, 200, rng.randint(40_000, 56_000), agent=agent))
            continue
        index = (index + 1) % len(ctx.catalog.product_paths)
        pid = ctx.catalog.product_id(index)
        missing = pid in ctx.catalog.missing_ids
        referrer = site.SITE + listing if script.startswith("Scrapy") and not rotating else "-"
        hits.append(Hit(t, client, "GET", ctx.catalog.product_paths[index], 404 if missing else 200,
                        9_800 if missing else rng.randint(45_000, 60_000), referrer=referrer, agent=agent))
        if rng.random() < 0.03 and len(hits) < size:
            hits.append(Hit(t + 40, client, "GET", f"/img/productos/{pid}-1.webp", 200,
                            ctx.catalog.size_of(f"/img/productos/{pid}-1.webp", 8_000, 180_000), agent=agent))
    return hits


CAMPAIGNS: dict[str, Campaign] = {
    "brute_force": brute_force, "credential_stuffing": credential_stuffing, "scanning": scanning,
    "injection": injection, "scanner_ua": scanner_ua, "flood": flood, "scraping": scraping,
}


def split_budget(total: int, names: list[str]) -> dict[str, int]:
    """Split `total` attack requests over `names` by SHARES; the counts add up to `total`."""
    weight = sum(SHARES[name] for name in names)
    budget = {name: int(total * SHARES[name] / weight) for name in names}
    for name in names[: total - sum(budget.values())]:
        budget[name] += 1
    return budget


def plan_attacks(
    rng: random.Random, addresses: AddressPool, catalog: Catalog, budget: dict[str, int], begin_ms: int, end_ms: int,
) -> list[Hit]:
    """Run campaigns until each scenario's budget is spent; return their hits in time order."""
    ctx = Context(rng, addresses, catalog)
    hits: list[Hit] = []
    for name in NAMES:
        remaining = budget.get(name, 0)
        low, high = CAMPAIGN_SIZES[name]
        while remaining > 0:
            size = min(remaining, rng.randint(low, high))
            if remaining - size < low:
                size = remaining
            campaign = CAMPAIGNS[name](ctx, size)
            _place(rng, campaign, name, begin_ms, end_ms)
            hits.extend(campaign)
            remaining -= size
    hits.sort(key=lambda hit: hit.ts_ms)
    return hits


def _place(rng: random.Random, campaign: list[Hit], name: str, begin_ms: int, end_ms: int) -> None:
    """Shift a campaign generated from 0 ms to a random start that keeps it inside [begin, end] if it fits."""
    duration = max(hit.ts_ms for hit in campaign)
    start = begin_ms + rng.randint(0, max(0, end_ms - begin_ms - duration))
    for hit in campaign:
        hit.ts_ms += start
        hit.scenario = name
