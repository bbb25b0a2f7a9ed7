"""The README and docs/: links that resolve, the commands CI runs, a README that stays short.

Links are checked as GitHub renders them: a relative link must name a file of the
repository, and a ``#anchor`` must be the slug of a heading in its target (lowercase,
punctuation dropped, spaces to hyphens, ``-1``, ``-2`` for repeats). Text in fenced code
blocks and in inline code is neither a link nor a heading.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS]
CI = REPO / ".ci" / "run"
README_MAX_LINES = 250

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^\s)>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose(text: str) -> str:
    """The text outside fenced code blocks, with each code line blanked (line numbers stay)."""
    lines, fence = [], None
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * len(match.group(1))
            lines.append("")
        elif fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            lines.append("")
        else:
            lines.append(line)
    return "\n".join(lines)


def links(page: Path) -> list[str]:
    """Every link target in a page: inline links, images and reference definitions."""
    text = prose(page.read_text(encoding="utf-8"))
    targets = [m.group(1) for m in _REFERENCE.finditer(text)]
    text = _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), text)
    return targets + [m.group(2) for m in _LINK.finditer(text)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = _LINK.sub(lambda m: m.group(1), heading)                 # [text](url) -> text
    text = re.sub(r"`([^`]*)`", r"\1", text)                       # `code` -> code
    text = re.sub(r"<[^>]+>", "", text)                            # inline HTML
    text = re.sub(r"(?<![\w])_{1,2}(.+?)_{1,2}(?![\w])", r"\1", text)  # _emphasis_
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors a page's headings give, repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose(page.read_text(encoding="utf-8")).split("\n"):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def test_slugs_follow_github() -> None:
    assert slug("Set up and test") == "set-up-and-test"
    assert slug("60-second start") == "60-second-start"
    assert slug("Output: table, JSON, paths, contact sheet") == "output-table-json-paths-contact-sheet"
    assert slug("Index on a Ray cluster") == "index-on-a-ray-cluster"
    assert slug("The `photoplug` module") == "the-photoplug-module"
    assert slug("Measured: the rate per worker") == "measured-the-rate-per-worker"


def test_code_is_neither_link_nor_heading(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n```sh\n# not a heading\n[x](missing.md)\n```\n\n"
                    "`[y](missing.md)` and [z](other.md#title)\n", encoding="utf-8")
    assert links(page) == ["other.md#title"]
    assert anchors(page) == {"title"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in links(page):
        if _SCHEME.match(target) or target.startswith("//"):
            continue  # http(s), mailto: not checked here (no network in tests)
        path_part, _, anchor = target.partition("#")
        path_part = unquote(path_part.split("?", 1)[0])
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(REPO) if linked.is_relative_to(REPO) else linked}")
            continue
        if anchor and linked.suffix == ".md" and unquote(anchor).lower() not in anchors(linked):
            broken.append(f"{target}: no heading with anchor #{anchor} in "
                          f"{linked.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}: broken links:\n" + "\n".join(broken)


def test_every_docs_page_is_linked() -> None:
    linked = set()
    for page in PAGES:
        for target in links(page):
            if not _SCHEME.match(target):
                path_part = target.partition("#")[0]
                if path_part:
                    linked.add((page.parent / unquote(path_part)).resolve())
    orphans = [p.name for p in DOCS if p.resolve() not in linked]
    assert not orphans, f"docs pages no page links to: {orphans}"


def _ci_command(start: str, quiet: bool = True) -> str:
    """The line of .ci/run that starts with ``start``; with ``quiet=False`` without the
    ``-q`` that keeps CI's install log short (pip's, apt's), which the README leaves out."""
    for line in CI.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith(start):
            words = [w for w in shlex.split(line.strip()) if quiet or w != "-q"]
            return shlex.join(words).replace(shlex.quote(".[test]"), "'.[test]'")
    raise AssertionError(f".ci/run has no line starting with {start!r}")


def test_readme_keeps_the_commands_ci_runs() -> None:
    readme = README.read_text(encoding="utf-8")
    venv = _ci_command("python3 -m venv")
    pip = _ci_command(".venv/bin/pip install", quiet=False)
    tests = _ci_command(".venv/bin/python -m pytest")
    assert f"{venv} && {pip}" in readme, "README's set-up command lost .ci/run's pip line"
    assert tests in readme.splitlines(), "README's test command is not .ci/run's"
    apt = _ci_command("apt-get install", quiet=False).removeprefix("apt-get install ")
    assert f"apt-get install {apt}" in readme, "README's apt packages differ from .ci/run's"


def test_readme_set_up_works_with_and_without_sudo() -> None:
    readme = README.read_text(encoding="utf-8")
    assert 'sudo=$([ "$(id -u)" = 0 ] || echo sudo); $sudo apt-get update && $sudo apt-get install' \
        in readme


def test_readme_stays_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines < README_MAX_LINES, f"README.md has {lines} lines; move depth into docs/"
