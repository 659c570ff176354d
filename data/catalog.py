"""The simulated shop: its URLs, products, search terms, user agents and referrers.

The catalogue is built from a fixed seed, so every generated log (the warm-start
history and any live mix) describes the same site whatever seed drives the
traffic. Domains use the reserved `.example` top-level domain.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from urllib.parse import quote_plus

SITE = "https://www.tienda.example"
CATALOG_SEED = "centinela-catalog-v1"
FIRST_PRODUCT_ID = 10_000

CATEGORIES = (
    "calzado", "moda-mujer", "moda-hombre", "electronica", "celulares", "computacion",
    "electrodomesticos", "hogar", "deportes", "belleza", "juguetes", "ofertas",
)
_NOUNS = (
    "zapatillas", "remera", "camiseta", "jean", "campera", "vestido", "mochila", "auriculares",
    "celular", "notebook", "heladera", "lavarropas", "cafetera", "licuadora", "colchon", "silla",
    "escritorio", "lampara", "sarten", "bicicleta", "pelota", "perfume", "reloj", "smart-tv",
    "parlante", "tablet", "monitor", "teclado", "mouse", "cartera", "tenis", "camisa", "calca",
    "jaqueta", "bolsa", "fone-de-ouvido", "geladeira", "fogao", "liquidificador", "travesseiro",
    "cadeira", "luminaria", "panela", "relogio", "caixa-de-som", "freidora-de-aire", "ventilador",
)
_ADJECTIVES = (
    "negro", "blanco", "azul", "rojo", "inalambrico", "deportivo", "urbano", "clasico", "pro", "max",
    "plus", "mini", "128gb", "55-pulgadas", "infantil", "mujer", "hombre", "unisex", "premium",
    "masculino", "feminino", "preto", "branco", "gamer", "bluetooth", "inox",
)
_BRANDS = (
    "samsung", "motorola", "xiaomi", "nike", "adidas", "topper", "olympikus", "havaianas", "philips",
    "oster", "lenovo", "lg", "noblex", "mondial", "tramontina", "arno", "natura", "puma", "jbl", "atma",
)
SEARCH_TERMS = (
    "zapatillas running", "celular samsung", "notebook i5", "aire acondicionado", "heladera no frost",
    "colchón 2 plazas", "auriculares bluetooth", "smart tv 50", "cafetera express", "mochila escolar",
    "juguetes niños", "perfume mujer", "bicicleta rodado 29", "silla gamer", "pava eléctrica",
    "freidora de aire", "zapatilas", "remera oversize", "campera inflable", "tênis masculino",
    "geladeira frost free", "fone bluetooth", "celular barato", "notebook gamer", "cadeira de escritório",
    "air fryer", "tênis feminino", "smart tv 55 polegadas", "panela de pressão", "ventilador de teto",
    "camisa de time", "perfume feminino", "máquina de lavar", "relógio inteligente", "xiaomi redmi",
    "motorola g84", "ofertas", "hot sale", "black friday", "cuotas sin interés",
)
FIRST_NAMES = (
    "maria", "juan", "lucia", "joao", "ana", "pedro", "camila", "mateo", "valentina", "gabriel",
    "sofia", "lucas", "martina", "thiago", "fernanda", "diego", "julia", "santiago", "beatriz",
    "carlos", "florencia", "rafael", "agustina", "bruno", "larissa", "nicolas", "paula", "felipe",
)
LAST_NAMES = (
    "gonzalez", "rodriguez", "silva", "santos", "oliveira", "fernandez", "lopez", "martinez",
    "souza", "pereira", "gomez", "diaz", "costa", "almeida", "romero", "sanchez", "ribeiro",
    "torres", "alves", "ramirez", "acosta", "benitez", "carvalho", "lima", "herrera", "medina",
)

# Static files as the front-end build names them, with their size in bytes.
PAGE_ASSETS = (
    ("/static/css/app.4f9c2b1e.css", 182_311),
    ("/static/js/vendor.1b77e0f3.js", 889_406),
    ("/static/js/app.8d41c7aa.js", 412_877),
    ("/static/fonts/inter-latin.woff2", 48_256),
    ("/static/img/logo.svg", 6_112),
)
FAVICON = ("/favicon.ico", 15_086)
BANNERS = tuple((f"/static/img/banners/promo-{n}.webp", 60_000 + 9_731 * n) for n in range(1, 6))

DESKTOP_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
)
MOBILE_AGENTS = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; moto g32) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Mobile Safari/537.36",
)
APP_AGENTS = (
    "TiendaApp/5.2.1 (Android 14; SM-A546E)",
    "TiendaApp/5.2.1 (Android 13; moto g32)",
    "TiendaApp/5.2.0 (Android 12; Redmi Note 11)",
    "TiendaApp/5.2.1 (iOS 17.4; iPhone14,7)",
    "TiendaApp/5.1.3 (iOS 16.7; iPhone12,1)",
    "TiendaApp/5.2 (Android 14)",
)
SEARCH_REFERRERS = (
    "https://www.google.com/", "https://www.google.com.ar/", "https://www.google.com.br/",
    "https://www.google.com.mx/", "https://www.google.cl/", "https://www.bing.com/",
)
SOCIAL_REFERRERS = ("https://l.facebook.com/", "https://l.instagram.com/", "https://t.co/")


@dataclass(slots=True)
class Catalog:
    """Product slugs, their popularity and per-path response sizes of one shop."""

    product_paths: list[str]
    missing_ids: frozenset[int]
    popularity: list[float] = field(default_factory=list)
    _sizes: dict[str, int] = field(default_factory=dict)

    def product_id(self, index: int) -> int:
        return FIRST_PRODUCT_ID + index

    def pick_product(self, rng: random.Random) -> int:
        """Return a product index drawn by popularity (Zipf-like)."""
        return rng.choices(range(len(self.product_paths)), cum_weights=self.popularity)[0]

    def size_of(self, path: str, low: int, high: int) -> int:
        """Return a stable body size for `path`, drawn once in [low, high]."""
        size = self._sizes.get(path)
        if size is None:
            size = random.Random(f"{CATALOG_SEED}/{path}").randint(low, high)
            self._sizes[path] = size
        return size


def build_catalog(products: int = 2_500) -> Catalog:
    """Build the shop's catalogue; the same for every call."""
    rng = random.Random(CATALOG_SEED)
    paths = []
    for index in range(products):
        slug = "-".join((rng.choice(_NOUNS), rng.choice(_ADJECTIVES), rng.choice(_BRANDS)))
        paths.append(f"/producto/{slug}-{FIRST_PRODUCT_ID + index}")

    # Discontinued products: their pages return 404 but old links and crawlers still ask for them.
    missing = frozenset(FIRST_PRODUCT_ID + i for i in rng.sample(range(products), products // 40))
    order = list(range(products))
    rng.shuffle(order)
    weights = [0.0] * products
    for rank, index in enumerate(order, start=1):
        weights[index] = 1.0 / (rank + 5) ** 1.05
    return Catalog(paths, missing, list(itertools.accumulate(weights)))


def search_query(rng: random.Random) -> str:
    """Return a URL-encoded query string for the shop's search page."""
    query = "q=" + quote_plus(rng.choice(SEARCH_TERMS))
    roll = rng.random()
    if roll < 0.15:
        query += f"&pagina={rng.randint(2, 5)}"
    elif roll < 0.25:
        query += "&orden=" + rng.choice(("menor-precio", "mayor-precio", "relevancia"))
    return query


def account_name(rng: random.Random) -> str:
    """Return a login name as customers of the shop pick them."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    style = rng.random()
    if style < 0.45:
        return f"{first}.{last}@correo.example"
    if style < 0.75:
        return f"{first}.{last}{rng.randint(1, 99)}"
    return f"{first[0]}{last}{rng.randint(60, 2006)}"
