"""The local search page: a real headless Chromium, the Host check and the token (raw
requests), our own error sentences, and path-traversal attempts."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from conftest import CLASSES, REPO, Cli, draw_photo
from photoplug.errors import PhotoplugError
from photoplug.web.security import Access, content_security_policy, is_loopback, own_token

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"
TOKEN = "test-token-0123456789abcdefghij"
PAGE_PATHS = ["/", "/api/search?q=red&top=2", "/api/locations", "/api/albums",
              "/thumb/0/red_circle_0.jpg", "/photo/0/red_circle_0.jpg"]


@dataclass(frozen=True)
class Library:
    root: Path
    photos: Path
    albums: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Served:
    url: str  # as printed, token included
    base: str  # scheme, host and port, then "/"
    port: int
    photos: Path
    pid: int  # the server process


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, toy_model: str) -> Library:
    root = tmp_path_factory.mktemp("web")
    photos = root / "photos"
    for n, (colour, shape) in enumerate(CLASSES):
        for k in range(2):
            draw_photo(photos / ("sub" if k else "") / f"{colour}_{shape}_{k}.jpg", colour,
                       shape, seed=7 * n + k, size=(800, 600))
    # Outside the library; a drawing of its own, no byte-identical twin of a photo, whose
    # exact tie with it would leave the order of results to argpartition; a green square,
    # which no test here searches for.
    draw_photo(root / "secret.jpg", "green", "square", seed=999, size=(800, 600))
    os.symlink(root / "secret.jpg", photos / "escape.jpg")  # a link out of the library
    albums = root / "albums.toml"
    albums.write_text('[[album]]\nname = "red things"\nprompts = ["a photo of a red circle", '
                      '"a photo of a red square", "a photo of a red triangle"]\n')
    cli = Cli(root / "index.sqlite3", toy_model)
    cli("index", str(photos))
    env = {**cli.env, "PHOTOPLUG_CACHE": str(root / "cache")}
    env.pop("PHOTOPLUG_TOKEN", None)
    return Library(root, photos, albums, env)


@contextmanager
def serving(library: Library, *args: str, env: dict[str, str] | None = None
            ) -> Iterator[Served]:
    """``photoplug serve`` in a subprocess; it listens before it prints its URL."""
    proc = subprocess.Popen([str(Path(sys.executable).with_name("photoplug")), "serve",
                             str(library.photos), "--albums", str(library.albums), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**library.env, **(env or {})})
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), proc.stderr.read()
        parts = urlsplit(url)
        yield Served(url, f"http://{parts.netloc}/", parts.port, library.photos, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(library: Library) -> Iterator[Served]:
    with serving(library) as served:
        yield served


@pytest.fixture(scope="module")
def token_server(library: Library) -> Iterator[Served]:
    with serving(library, env={"PHOTOPLUG_TOKEN": TOKEN}) as served:
        yield served


def get(url: str, headers: dict[str, str] | None = None
        ) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def raw(served: Served, path: str, host: str | None, *headers: str
        ) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.0 request written byte for byte: any Host header, or none at all."""
    lines = [f"GET {path} HTTP/1.0", *([f"Host: {host}"] if host is not None else []),
             *headers]
    address = urlsplit(served.base).hostname
    with socket.create_connection((address, served.port), timeout=30) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b"".join(iter(lambda: conn.recv(65536), b""))
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    return int(status_line.split()[1]), {k.lower(): v for k, v in
                                         (f.split(": ", 1) for f in fields)}, body


def assert_security_headers(headers: dict[str, str]) -> None:
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["x-content-type-options"] == "nosniff"
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "*" not in policy


def test_api_search_and_files(server: Served) -> None:
    url = server.base
    status, body, headers = get(url + "api/search?q=a+photo+of+a+red+circle&top=3")
    items = json.loads(body)
    assert status == 200 and Path(items[0]["path"]).name.startswith("red_circle")
    assert {"rank", "path", "score", "id", "location", "host_ref"} <= set(items[0])
    assert_security_headers(headers)
    status, body, headers = get(url + items[0]["thumb"].lstrip("/"))
    assert status == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    assert "max-age" in headers["cache-control"] and headers["etag"]
    assert_security_headers(headers)
    status, body, headers = get(url + items[0]["photo"].lstrip("/"))
    assert status == 200 and body == Path(items[0]["path"]).read_bytes()
    assert_security_headers(headers)
    status, body, _ = get(url + "api/search?q=x&album=sub&top=50")
    assert status == 200 and all(i["id"].startswith("sub/") for i in json.loads(body))
    status, body, _ = get(url + "api/search?q=red&top=1000")
    assert status == 200 and len(json.loads(body)) == 37  # 36 drawn, 1 linked in


def test_the_query_is_words_never_a_file_on_the_server(server: Served, library: Library
                                                       ) -> None:
    """A path in ``q`` is searched as text: the server never opens it (as an image query
    from the command line would), so it can't tell whether such a file exists.
    secret.jpg is indexed (through the link escape.jpg): opened as an image it would find
    itself at cosine ~1.0, while toy-clip's text-to-image cosines stay below ~0.75."""
    for path in (library.albums, library.root / "secret.jpg"):
        status, body, _ = get(server.base + "api/search?top=1&q=" + quote(str(path)))
        assert status == 200 and json.loads(body)[0]["score"] < 0.9


@pytest.mark.parametrize(("query", "sentence"), [
    ("q=red&top=abc", "top must be a whole number from 1 to 1000"),
    ("q=red&top=100000000", "top must be a whole number from 1 to 1000"),
    ("q=red&top=1001", "top must be a whole number from 1 to 1000"),
    ("q=red&top=0", "top must be a whole number from 1 to 1000"),
    ("q=red&top=-3", "top must be a whole number from 1 to 1000"),
    ("q=red&top=2.5", "top must be a whole number from 1 to 1000"),
    ("q=red&top=" + "9" * 5000, "top must be a whole number from 1 to 1000"),
    ("q=red&top=", "top must be a whole number from 1 to 1000"),
    ("q=red&location=folder:/elsewhere", "unknown location 'folder:/elsewhere'"),
    ("q=", "the query is empty"),
    ("q=%20%20", "the query is empty"),
    ("top=5", "the query is empty"),
    ("q=red&rating=five", "rating must be a whole number from 0 to 5"),
    ("q=red&rating=6", "rating must be a whole number from 0 to 5"),
    ("q=red&rating=3", "a plain folder has no rating to filter by"),
    ("q=red&tags=People", "a plain folder has no tags to filter by"),
    ("q=red&since=yesterday", "since must be a date written YYYY-MM-DD"),
    ("q=red&since=2024-13-01", "since must be a date written YYYY-MM-DD"),
    ("q=red&until=2024-02-30", "until must be a date written YYYY-MM-DD"),
    ("q=red&since=2024-06-01&until=2024-01-31", "since (2024-06-01) is after until (2024-01-31)"),
    ("like=nothere.jpg", "unknown photo 'nothere.jpg'"),
    ("like=..%2F..%2Fsecret.jpg", "unknown photo '../../secret.jpg'"),
    ("like=escape.jpg", "unknown photo 'escape.jpg'"),
    ("q=red&like=red_circle_0.jpg", "give q (words) or like (a photo), not both"),
])
def test_bad_parameters_get_400_in_our_words(server: Served, query: str, sentence: str
                                             ) -> None:
    status, body, headers = get(server.base + "api/search?" + query)
    assert status == 400 and headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error.startswith(sentence), error
    assert not any(word in error for word in ("invalid literal", "int()", "Traceback"))


def test_like_searches_by_a_photo(server: Served) -> None:
    status, body, _ = get(server.base + "api/search?like=sub%2Fblue_square_1.jpg&top=2")
    assert status == 200 and json.loads(body)[0]["id"] == "sub/blue_square_1.jpg"


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_only_the_servers_own_host_names_are_answered(server: Served, path: str) -> None:
    """DNS rebinding: a foreign page that resolves its own name to 127.0.0.1 sends that
    name as Host; so does anything with the wrong port or no Host at all."""
    port = server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        assert raw(server, path, host)[0] == 200, host
    for host in ("evil.example.com", f"evil.example.com:{port}", f"127.0.0.1.nip.io:{port}",
                 "127.0.0.1", "localhost", f"127.0.0.1:{port + 1}", f"localhost:{port}0",
                 f"[::1]:{port}", f"127.0.0.2:{port}", f"0.0.0.0:{port}", "", None):
        status, headers, body = raw(server, path, host)
        assert status == 403, host
        assert b"does not answer to this host name" in body
        assert_security_headers(headers)
    assert raw(server, path, f"evil.example.com:{port}",
               f"Cookie: photoplug-token-{port}={TOKEN}")[0] == 403


def test_serve_says_what_is_wrong_in_one_line(library: Library) -> None:
    serve = [str(Path(sys.executable).with_name("photoplug")), "serve", str(library.photos)]
    with socket.create_server(("127.0.0.1", 0)) as taken:
        for args, words in ((["--token", "short"], "the token must be at least 16"),
                            (["--port", str(taken.getsockname()[1])],
                             "cannot listen on 127.0.0.1 port")):
            result = subprocess.run(serve + args, capture_output=True, text=True,
                                    env=library.env, timeout=300)
            assert result.returncode == 1 and "Traceback" not in result.stderr
            assert result.stderr.startswith(f"photoplug: error: {words}"), result.stderr


def ipv6_loopback_missing() -> str | None:
    """Why this machine has no IPv6 loopback (binding ::1 fails), or None when it has one."""
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError as exc:
        return f"this machine has no IPv6 loopback: binding [::1] failed ({exc})"
    return None


def test_ipv6_loopback(library: Library) -> None:
    """Skipped only where the machine has no ::1; where it has one, any failure to serve
    there fails the test."""
    missing = ipv6_loopback_missing()
    if missing:
        pytest.skip(missing)
    with serving(library, "--host", "::1") as served:
        assert served.url == served.base and served.base.startswith("http://[::1]:")
        for host, status in ((f"[::1]:{served.port}", 200), (f"localhost:{served.port}", 200),
                             (f"127.0.0.1:{served.port}", 403), ("[::1]", 403),
                             (f"evil.example.com:{served.port}", 403)):
            assert raw(served, "/api/locations", host)[0] == status, host


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_a_token_in_force_guards_every_route(token_server: Served, path: str) -> None:
    served, host = token_server, f"127.0.0.1:{token_server.port}"
    cookie = f"photoplug-token-{served.port}"
    status, headers, body = raw(served, path, host)
    assert status == 403 and b"needs its token" in body
    assert_security_headers(headers)
    if path.startswith("/api/"):
        assert "needs its token" in json.loads(body)["error"]
    for wrong in (f"Cookie: {cookie}={TOKEN[:-1]}", f"Cookie: {cookie}={TOKEN}x",
                  f"Authorization: token {TOKEN.upper()}", f"Cookie: {cookie}=",
                  f"Cookie: photoplug-token-{served.port + 1}={TOKEN}",
                  "Cookie: photoplug-token-1=\u00e9"):
        assert raw(served, path, host, wrong)[0] == 403, wrong
    for right in (f"Cookie: {cookie}={TOKEN}", f"Authorization: token {TOKEN}",
                  f"Authorization: Bearer {TOKEN}"):
        assert raw(served, path, host, right)[0] == 200, right
    assert raw(served, path, f"evil.example.com:{served.port}", f"Cookie: {cookie}={TOKEN}",
               f"Authorization: token {TOKEN}")[0] == 403


def test_the_token_moves_from_the_url_into_a_cookie(token_server: Served) -> None:
    served, host = token_server, f"127.0.0.1:{token_server.port}"
    assert served.url == f"{served.base}?token={TOKEN}"
    assert raw(served, "/?token=wrong", host)[0] == 403
    status, headers, _ = raw(served, f"/?token={TOKEN}", host)
    assert status == 303 and headers["location"] == "/"
    # a shared link to a search keeps the search, and loses the token
    status, headers, _ = raw(served, f"/?q=red+circle&token={TOKEN}&album=sub", host)
    assert status == 303 and headers["location"] == "/?q=red+circle&album=sub"
    attributes = [a.strip().lower() for a in headers["set-cookie"].split(";")]
    assert attributes[0] == f"photoplug-token-{served.port}={TOKEN}".lower()
    assert {"httponly", "samesite=strict", "path=/"} <= set(attributes[1:])
    status, _, body = raw(served, f"/api/search?q=red&top=1&token={TOKEN}", host)
    assert status == 200 and len(json.loads(body)) == 1  # scripts: no redirect for the API


def test_access_rules() -> None:
    """What each --host means, without opening a socket."""
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("nas.local")
    assert Access.create("127.0.0.1", 8765).token is None
    assert Access.create("::1", 8765).token is None
    assert Access.create("127.0.0.1", 8765, token=TOKEN).token == TOKEN
    assert own_token(TOKEN) == TOKEN and own_token("") is None and own_token(None) is None
    for weak in ("short", "sixteen chars ok", "semi;colon-0123456789", "\u00e9" * 20):
        with pytest.raises(PhotoplugError, match="at least 16 letters"):
            own_token(weak)
    lan, again = Access.create("192.168.1.5", 8765), Access.create("192.168.1.5", 8765)
    assert lan.token and len(lan.token) >= 40 and lan.token != again.token
    assert lan.urls() == [f"http://192.168.1.5:8765/?token={lan.token}"]
    assert Access.create("nas.local", 8765).host_allowed("NAS.local:8765", "192.168.1.5")
    assert lan.host_allowed("192.168.1.5:8765", "192.168.1.5")
    assert not lan.host_allowed("nas.local:8765", "192.168.1.5")
    everywhere = Access.create("0.0.0.0", 8765, allow_hosts=["nas.local"])
    me = socket.gethostname()
    assert everywhere.urls() == [f"http://{me}:8765/?token={everywhere.token}",
                                 f"http://127.0.0.1:8765/?token={everywhere.token}"]
    for host, local in ((f"{me}:8765", "10.0.0.2"), ("nas.local:8765", "10.0.0.2"),
                        ("10.0.0.2:8765", "10.0.0.2"), ("10.0.0.2:8765", "::ffff:10.0.0.2"),
                        ("localhost:8765", "127.0.0.1"), ("[fe80::1]:8765", "fe80::1")):
        assert everywhere.host_allowed(host, local), host
    for host, local in (("10.0.0.3:8765", "10.0.0.2"), ("nas.local:8766", "10.0.0.2"),
                        ("nas.local", "10.0.0.2"), ("evil.example.com:8765", "10.0.0.2"),
                        ("10.0.0.2:8765", None), ("nas.local:8765:8765", "10.0.0.2"),
                        ("[nas.local]:8765", "10.0.0.2"), ("::1:8765", "::1")):
        assert not everywhere.host_allowed(host, local), host
    both = Access.create("::", 8765)
    assert both.urls()[1] == f"http://[::1]:8765/?token={both.token}"
    assert Access.create("127.0.0.1", 80).host_allowed("localhost", "127.0.0.1")


def test_the_policy_admits_exactly_the_pages_own_script_and_style() -> None:
    page = (REPO / "plugin" / "web" / "page.html").read_text()
    policy = content_security_policy(page)
    assert policy.count("'sha256-") == 2 and page.count("<script") == 1
    assert content_security_policy(page.replace("const $", "const  $")) != policy


@pytest.mark.parametrize("attack", [
    "photo/0/../../secret.jpg", "photo/0/..%2F..%2Fsecret.jpg", "photo/0/%2Fetc%2Fpasswd",
    "photo/0//etc/passwd", "photo/0/escape.jpg", "thumb/0/escape.jpg",
    "photo/0/%252e%252e%252fsecret.jpg", "photo/1/red_circle_0.jpg", "photo/0/notes.txt",
    "thumb/0/..%5C..%5Csecret.jpg",
])
def test_crafted_paths_get_404(server: Served, attack: str) -> None:
    assert get(server.base + attack)[0] == 404
    # the same request with the path sent byte for byte (no client normalises it), as a
    # hand-made client would
    assert raw(server, "/" + attack, f"127.0.0.1:{server.port}")[0] in {404, 400}


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
@pytest.mark.parametrize("which", ["server", "token_server"])
def test_page_in_headless_chromium(request: pytest.FixtureRequest, which: str) -> None:
    """The page works under its Content-Security-Policy; with a token, the printed URL
    leads to the page without it, the token kept in an HttpOnly, SameSite=Strict cookie."""
    from playwright.sync_api import sync_playwright
    served: Served = request.getfixturevalue(which)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        external, refused = [], []
        page.on("request", lambda r: external.append(r.url)
                if not r.url.startswith((served.base, "data:")) else None)
        page.on("console", lambda m: refused.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.on("pageerror", lambda e: refused.append(str(e)))
        page.goto(served.url)
        assert page.url == served.base
        page.fill("#q", "a photo of a blue triangle")
        page.click("button[type=submit]")
        page.wait_for_selector("figure.result img")
        page.wait_for_function("() => [...document.querySelectorAll('#results img')]"
                               ".slice(0, 4).every(i => i.complete && i.naturalWidth > 0)")
        first = page.locator("#results figure.result figcaption").first.text_content()
        assert "blue_triangle" in first
        status = page.locator("#status").text_content()  # "N good matches of M results"
        good = int(status.split(" good ")[0])
        assert good >= 1 and f"of {page.locator('#results figure.result').count()} results" \
            in status
        if page.locator("#weak-line").count():  # the line sits right after the good ones
            assert page.locator("#results > *").nth(good).get_attribute("id") == "weak-line"
        assert page.locator("#results .score").first.evaluate(
            "e => getComputedStyle(e).fontWeight") == "600"  # the page's <style> applies
        page.screenshot(path=str(ARTIFACTS / f"search-{which}.png"))
        page.locator("#results figure.result button.more").nth(0).click()
        page.wait_for_function("() => document.querySelector('#status').textContent"
                               ".includes('like the one')")
        assert "blue_triangle" in page.locator("#results figcaption").first.text_content()
        page.wait_for_selector("#albums details")
        assert page.locator("#albums summary").first.text_content().startswith("red things (")
        members = page.locator("#albums details").first.locator("figcaption")
        assert sum("red_" in m for m in members.all_text_contents()) == 6  # how many: test_albums
        page.screenshot(path=str(ARTIFACTS / f"more-like-this-{which}.png"))
        cookies = page.context.cookies()
        browser.close()
    assert external == [], f"the page reached outside: {external}"
    assert refused == [], refused
    if which == "token_server":
        assert [(c["name"], c["value"], c["httpOnly"], c["sameSite"]) for c in cookies] == [
            (f"photoplug-token-{served.port}", TOKEN, True, "Strict")]
    else:
        assert cookies == []


needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="Debian's chromium is not installed")
RED, BLUE = "a photo of a red circle", "a photo of a blue triangle"
# Chromium asks for an icon the page has none of; escape.jpg is indexed (a link out of the
# library) and rightly refused (test_crafted_paths_get_404)
REFUSED = ("/favicon.ico", "/escape.jpg")


@contextmanager
def chromium_page(served: Served) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page in headless Chromium; with every address it was at (history moves, pushState
    and replaceState included) and every error or CSP refusal it logged."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            addresses: list[str] = []
            errors: list[str] = []
            page.on("framenavigated", lambda frame: addresses.append(frame.url)
                    if frame == page.main_frame else None)
            page.on("console", lambda m: errors.append(m.text)
                    if "Content Security Policy" in m.text else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith(REFUSED) else None)
            page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
            yield page, addresses, errors
        finally:
            browser.close()


def searched(page: Any) -> dict[str, list[str]]:
    """The search the page's address names (its query string, parsed)."""
    return parse_qs(urlsplit(page.url).query)


def shows(page: Any, what: str, first: str) -> None:
    """Wait until the page shows the results for ``what`` (words, or "like" for more like
    this), the first a photo whose name starts with ``first``."""
    words = "like the one" if what == "like" else f"for \u201c{what}\u201d"
    page.wait_for_function("w => document.querySelector('#status').textContent.includes(w)",
                           arg=words, timeout=30000)
    caption = page.locator("#results figure.result figcaption").first.text_content()
    assert first in caption, caption
    assert page.input_value("#q") == ("" if what == "like" else what)


@needs_chromium
@pytest.mark.parametrize("which", ["server", "token_server"])
def test_searches_live_in_the_address_and_the_history(request: pytest.FixtureRequest,
                                                      which: str) -> None:
    """Opening /?q=... runs that search; each search is a history entry that back and
    forward return to, the box showing its words; a LAN page's token is in none of them."""
    served: Served = request.getfixturevalue(which)
    start = served.url + ("&" if "?" in served.url else "?") + "q=" + quote(RED)
    with chromium_page(served) as (page, addresses, errors):
        page.goto(start)
        shows(page, RED, "red_circle")
        assert searched(page) == {"q": [RED]}
        page.fill("#q", BLUE)
        page.click("button[type=submit]")
        shows(page, BLUE, "blue_triangle")
        assert searched(page) == {"q": [BLUE]}
        page.go_back()
        shows(page, RED, "red_circle")
        assert searched(page) == {"q": [RED]}
        page.go_forward()
        shows(page, BLUE, "blue_triangle")
        page.locator("#results figure.result button.more").first.click()
        shows(page, "like", "blue_triangle")
        like = searched(page)["like"][0]
        assert like.split("/")[-1].startswith("blue_triangle")
        page.fill("#album", "sub")
        page.fill("#q", RED)
        page.click("button[type=submit]")
        shows(page, RED, "red_circle")
        assert searched(page) == {"q": [RED], "album": ["sub"]}
        assert all(i.startswith("sub/") for i in page.evaluate(
            "() => [...document.querySelectorAll('#results img')].map(i => i.src)"
            ".map(s => decodeURIComponent(s.split('/thumb/0/')[1]))"))
        entries = page.evaluate("history.length")  # the first search and three more
        page.go_back()
        shows(page, "like", "blue_triangle")
        assert searched(page) == {"like": [like]} and page.input_value("#album") == ""
        page.go_back()
        shows(page, BLUE, "blue_triangle")
        page.go_back()
        shows(page, RED, "red_circle")
        # a link to this search, opened afresh, shows the same
        page.goto(page.url)
        shows(page, RED, "red_circle")
    assert errors == [], errors
    addresses = [a for a in addresses if a != "about:blank"]
    assert addresses and all(a.startswith(served.base) for a in addresses), addresses
    assert not any("token" in a or TOKEN in a for a in addresses), addresses
    assert entries >= 4


@needs_chromium
def test_a_bad_address_opens_the_page_with_a_one_line_notice(server: Served) -> None:
    """Unknown or malformed parameters: the page, its boxes and a notice of one line that
    says what is wrong; a search the address still names runs."""
    cases = [  # (address, in the notice, the first result, or None: no results)
        (f"?q={quote(RED)}&colour=blue", "does not know, ignored: colour", "red_circle"),
        (f"?q={quote(RED)}&q=blue", "given twice, the first used: q", "red_circle"),
        ("?q=red&top=abc", "top must be a whole number from 1 to 1000", None),
        ("?q=red&since=yesterday", "since must be a date written YYYY-MM-DD", None),
        ("?like=nothere.jpg", "unknown photo 'nothere.jpg'", None),
        ("?q=red&like=red_circle_0.jpg", "give q (words) or like (a photo), not both", None),
        ("?q=red&location=folder%3A%2Felsewhere", "unknown location", None),
        ("?%ZZ=%E0%A4%A&album=sub", "nothing to search for", None),
        ("?%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E=1", "does not know", None),
        ("?q=" + "x" * 3000 + "&" + "&".join(f"k{n}=v" for n in range(200)),
         "does not know, ignored: k0, k1", "")]
    with chromium_page(server) as (page, _, errors):
        for address, sentence, first in cases:
            page.goto(server.base + address)
            page.wait_for_function("s => document.querySelector('#notice').textContent"
                                   ".includes(s)", arg=sentence, timeout=30000)
            notice = page.locator("#notice")
            assert notice.is_visible() and "\n" not in notice.text_content()
            box = notice.bounding_box()
            assert box and box["height"] < 45 and box["width"] <= 1200, (address, box)
            assert page.locator("#q").is_visible() and page.locator("#notice img").count() == 0
            if first is not None:
                page.wait_for_function("() => document.querySelector('#status').textContent"
                                       ".includes('results for')", timeout=30000)
                caption = page.locator("#results figcaption").first.text_content()
                assert first in caption, (address, caption)
                if address == cases[0][0]:
                    page.wait_for_function("() => [...document.querySelectorAll('#results "
                                           "img')].slice(0, 4).every(i => i.complete && "
                                           "i.naturalWidth > 0)")
                    ARTIFACTS.mkdir(exist_ok=True)
                    page.screenshot(path=str(ARTIFACTS / "bad-address-notice.png"))
            else:
                assert page.locator("#results figure").count() == 0, address
        # a good search afterwards clears the notice
        page.fill("#q", BLUE)
        page.fill("#album", "")
        page.click("button[type=submit]")
        shows(page, BLUE, "blue_triangle")
        assert not page.locator("#notice").is_visible()
    # the API's 400s are the sentences shown; nothing else failed
    assert [e for e in errors if not e.startswith("400 ") or "/api/search?" not in e] == []


def test_contact_sheet_is_self_contained(toy_cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    for n, (colour, shape) in enumerate(CLASSES[:6]):
        draw_photo(folder / f"{colour}_{shape}.jpg", colour, shape, seed=n, size=(600, 400))
    sheet = tmp_path / "sheet.html"
    toy_cli("search", "a photo of a red circle", str(folder), "--top", "3", "--html",
            str(sheet), env={"PHOTOPLUG_CACHE": str(tmp_path / "cache")})
    text = sheet.read_text()
    assert text.count("data:image/jpeg;base64,") == 3
    assert "http://" not in text and "https://" not in text
    assert "red_circle.jpg" in text
