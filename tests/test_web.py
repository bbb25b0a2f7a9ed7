"""The local search page in a real headless Chromium, and path-traversal attempts."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import CLASSES, REPO, Cli, draw_photo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, toy_model: str):
    root = tmp_path_factory.mktemp("web")
    photos = root / "photos"
    for n, (colour, shape) in enumerate(CLASSES):
        for k in range(2):
            draw_photo(photos / ("sub" if k else "") / f"{colour}_{shape}_{k}.jpg", colour,
                       shape, seed=7 * n + k, size=(800, 600))
    (root / "secret.jpg").write_bytes((photos / "red_circle_0.jpg").read_bytes())
    os.symlink(root / "secret.jpg", photos / "escape.jpg")  # a link out of the library
    albums = root / "albums.toml"
    albums.write_text('[[album]]\nname = "red things"\nprompts = ["a photo of a red circle", '
                      '"a photo of a red square", "a photo of a red triangle"]\n')
    cli = Cli(root / "index.sqlite3", toy_model)
    cli("index", str(photos))
    env = {**cli.env, "PHOTOPLUG_CACHE": str(root / "cache")}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("photoplug")), "serve",
                             str(photos), "--albums", str(albums)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
    for _ in range(100):  # until uvicorn answers
        try:
            urllib.request.urlopen(url + "api/locations", timeout=1)
            break
        except OSError:
            import time
            time.sleep(0.1)
    yield url, photos
    proc.terminate()
    proc.wait(timeout=10)


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_api_search_and_files(server) -> None:
    import json
    url, photos = server
    status, body, _ = get(url + "api/search?q=a+photo+of+a+red+circle&top=3")
    items = json.loads(body)
    assert status == 200 and Path(items[0]["path"]).name.startswith("red_circle")
    assert {"rank", "path", "score", "id", "location", "host_ref"} <= set(items[0])
    status, body, headers = get(url + items[0]["thumb"].lstrip("/"))
    assert status == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    assert "max-age" in headers["cache-control"] and headers["etag"]
    status, body, _ = get(url + items[0]["photo"].lstrip("/"))
    assert status == 200 and body == Path(items[0]["path"]).read_bytes()
    status, body, _ = get(url + "api/search?q=x&album=sub&top=50")
    assert status == 200 and all(i["id"].startswith("sub/") for i in json.loads(body))


@pytest.mark.parametrize("attack", [
    "photo/0/../../secret.jpg", "photo/0/..%2F..%2Fsecret.jpg", "photo/0/%2Fetc%2Fpasswd",
    "photo/0//etc/passwd", "photo/0/escape.jpg", "thumb/0/escape.jpg",
    "photo/0/%252e%252e%252fsecret.jpg", "photo/1/red_circle_0.jpg", "photo/0/notes.txt",
    "thumb/0/..%5C..%5Csecret.jpg",
])
def test_crafted_paths_get_404(server, attack: str) -> None:
    url, _ = server
    assert get(url + attack)[0] == 404
    # the same request with the path sent byte for byte, as a hand-made client would
    raw = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          "--path-as-is", url + attack],
                         capture_output=True, text=True)
    if raw.returncode == 0:
        assert raw.stdout in {"404", "400"}


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_page_in_headless_chromium(server) -> None:
    from playwright.sync_api import sync_playwright
    url, _ = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        external = []
        page.on("request", lambda r: external.append(r.url)
                if not r.url.startswith((url, "data:")) else None)
        page.goto(url)
        page.fill("#q", "a photo of a blue triangle")
        page.click("button[type=submit]")
        page.wait_for_selector("figure.result img")
        page.wait_for_function("[...document.querySelectorAll('#results img')].slice(0, 4)"
                               ".every(i => i.complete && i.naturalWidth > 0)")
        first = page.locator("#results figure.result figcaption").first.text_content()
        assert "blue_triangle" in first
        page.screenshot(path=str(ARTIFACTS / "search.png"))
        page.locator("#results figure.result button.more").nth(0).click()
        page.wait_for_function("document.querySelector('#status').textContent"
                               ".includes('like the one')")
        assert "blue_triangle" in page.locator("#results figcaption").first.text_content()
        page.wait_for_selector("#albums details")  # 6 red photos and the linked-in copy
        assert "red things (7)" in page.locator("#albums summary").first.text_content()
        page.screenshot(path=str(ARTIFACTS / "more-like-this.png"))
        browser.close()
    assert external == [], f"the page reached outside: {external}"


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
