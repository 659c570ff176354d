"""Content signals of a request: injection keywords, probe paths, user-agent kinds.

The patterns are data about attacks seen in the wild (SQL injection, XSS,
path traversal, command injection, JNDI lookups), matched on the
percent-decoded, lower-cased target so that `%27%20OR%201=1` and `' or 1=1`
count the same.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote_plus

# One pattern per technique; `injection_signal` weighs the distinct ones found.
INJECTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "sqli_union": re.compile(r"union(?:\s|/\*.*?\*/)+(?:all\s+)?select"),
    "sqli_tautology": re.compile(r"['\"]\s*(?:or|and)\s+['\"]?\w+['\"]?\s*(?:=|like)|\bor\s+1\s*=\s*1"),
    "sqli_comment": re.compile(r"(?:'|\")\s*(?:--|#|/\*)"),
    "sqli_functions": re.compile(r"\b(?:sleep|benchmark|pg_sleep|waitfor\s+delay|extractvalue|updatexml)\s*\("),
    "sqli_schema": re.compile(r"information_schema|sysobjects|\bxp_cmdshell\b|@@version"),
    "sqli_stacked": re.compile(r";\s*(?:drop|select|insert|update|delete|exec)\s"),
    "xss_tag": re.compile(r"<\s*(?:script|svg|iframe|img|body|object|embed)\b"),
    "xss_handler": re.compile(r"\bon(?:error|load|mouseover|focus|click)\s*="),
    "xss_scheme": re.compile(r"javascript\s*:|vbscript\s*:|data\s*:\s*text/html"),
    "xss_call": re.compile(r"\b(?:alert|prompt|confirm)\s*\(|document\.cookie"),
    "traversal": re.compile(r"(?:\.\.[/\\]){1,}|\.\.%2f|%2e%2e"),
    "sensitive_file": re.compile(r"/etc/(?:passwd|shadow|hosts)|win\.ini|boot\.ini|/proc/self"),
    "cmd_injection": re.compile(r"(?:[;|`]|\$\(|&&)\s*(?:cat|id|ls|uname|whoami|wget|curl|nc|bash|sh|ping)\b"),
    "shell_path": re.compile(r"/bin/(?:ba)?sh|cmd\.exe|powershell"),
    "jndi": re.compile(r"\$\{(?:jndi|\$\{|lower|upper|env|sys)"),
    "template": re.compile(r"\{\{.*?\}\}|<%=|\$\{\d+\*\d+\}"),
    "php_wrapper": re.compile(r"php://|data://|expect://|file://"),
}
_QUICK = re.compile(r"[<>'\"`;|$(){}]|\.\.|%|union|select|sleep|/etc/|/bin/|javascript|alert|php:|file:")

PROBE_PATH = re.compile(
    r"^/(?:\.env|\.git/|\.svn/|\.hg/|\.ds_store|\.aws/|\.ssh/|\.htaccess|\.htpasswd|wp-login\.php|wp-admin|"
    r"wp-config|wp-content/plugins|xmlrpc\.php|phpmyadmin|pma/|myadmin|admin\.php|administrator/|"
    r"server-status|server-info|actuator|vendor/phpunit|cgi-bin/|boaform|hnap1|\.well-known/security|"
    r"config\.(?:php|json|yml)|backup|db\.sql|dump\.sql|.*\.(?:bak|old|swp|sql|tar\.gz|zip)$|"
    r"solr/|jenkins|manager/html|console|shell|eval-stdin|owa/|autodiscover|telescope|_profiler|"
    r"debug/|druid|jmx-console|invoker)",
    re.IGNORECASE,
)

# User-agent kinds, from most to least suspicious. Order matters: the first match wins.
SCANNER_UA = re.compile(
    r"sqlmap|nikto|nuclei|zgrab|masscan|acunetix|nmap|nessus|openvas|wpscan|dirbuster|gobuster|"
    r"feroxbuster|ffuf|wfuzz|hydra|burp|zap/|arachni|w3af|netsparker|qualys|jaeles|httpx - open",
    re.IGNORECASE,
)
# Payloads that only an attack puts in a User-Agent header: JNDI lookups, Shellshock, script tags and
# SQL. The full injection set is too loose for user agents: "; id)" is ordinary in Android ones.
UA_PAYLOAD = re.compile(
    r"\$\{(?:jndi|\$\{|lower|upper|env|sys)|\(\)\s*\{|<\s*script|union\s+(?:all\s+)?select|sleep\s*\(|/etc/passwd",
    re.IGNORECASE,
)
TOOL_UA = re.compile(
    r"curl|wget|python|aiohttp|httpclient|okhttp|go-http|java/|libwww|perl|ruby|php/|node-fetch|axios|"
    r"scrapy|headless|phantomjs|selenium|powershell|postman|insomnia",
    re.IGNORECASE,
)
BOT_UA = re.compile(r"bot|crawler|spider|slurp|facebookexternalhit|bingpreview|feed|monitor|check", re.IGNORECASE)
BROWSER_UA = re.compile(r"mozilla/|opera/", re.IGNORECASE)

UA_BROWSER, UA_APP, UA_BOT, UA_TOOL, UA_EMPTY, UA_SCANNER = 0.0, 0.2, 0.4, 0.7, 0.85, 1.0


# Weight of each pattern in the injection strength. A strong pattern alone is an attack on its own
# (nobody searches a shop for "union select" or "${jndi:"); a weak one needs company, because
# quotes, "--" or "../" also turn up in harmless queries.
STRONG_PATTERN_WEIGHT = 0.7
WEAK_PATTERN_WEIGHT = 0.35
WEAK_PATTERNS = frozenset(
    {"sqli_comment", "sqli_stacked", "xss_scheme", "xss_call", "traversal", "shell_path", "template", "php_wrapper"}
)


@lru_cache(maxsize=65_536)
def injection_signal(target: str) -> tuple[float, int]:
    """Return the injection strength (0..1) and the number of distinct patterns found in `target`."""
    if not _QUICK.search(target.lower()):
        return 0.0, 0
    text = target
    # Decode twice: attackers double-encode to get past single-pass filters.
    for _ in range(2):
        if "%" not in text and "+" not in text:
            break
        text = unquote_plus(text)
    text = text.lower()
    strength = 0.0
    hits = 0
    for name, pattern in INJECTION_PATTERNS.items():
        if pattern.search(text):
            hits += 1
            strength += WEAK_PATTERN_WEIGHT if name in WEAK_PATTERNS else STRONG_PATTERN_WEIGHT
    return min(strength, 1.0), hits


def injection_hits(target: str) -> int:
    """Count the distinct injection patterns found in a request target or header value."""
    return injection_signal(target)[1]


@lru_cache(maxsize=65_536)
def is_probe_path(path: str) -> bool:
    return PROBE_PATH.match(path) is not None


@lru_cache(maxsize=8192)
def user_agent_kind(user_agent: str | None) -> float:
    """Map a user agent to a suspicion level in [0,1] (browser 0 … scanner 1)."""
    if not user_agent:
        return UA_EMPTY
    if SCANNER_UA.search(user_agent):
        return UA_SCANNER
    if UA_PAYLOAD.search(user_agent):
        return UA_SCANNER
    if TOOL_UA.search(user_agent):
        return UA_TOOL
    if BOT_UA.search(user_agent):
        return UA_BOT
    if BROWSER_UA.search(user_agent):
        return UA_BROWSER
    return UA_APP
