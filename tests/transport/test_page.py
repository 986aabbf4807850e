"""The page shipped in the package, checked without a browser (browser tests come with the backends).

Every file is served with its type and the security headers; the HTML loads
nothing inline and nothing from elsewhere; the script never writes HTML; and
the page speaks the protocol docs/web.md describes, no more and no less.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from adapters.transport import CONTENT_SECURITY_POLICY, Served, Site, Stack, TransportConfig

from .peers import HttpClient, feed, header

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "adapters" / "web"
DOC = (ROOT / "docs" / "web.md").read_text()
SCRIPT = (PAGE / "chat.js").read_text()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] == "script" and data.strip():
            self.inline_script = True


def parsed() -> _Tags:
    tags = _Tags()
    tags.feed((PAGE / "index.html").read_text())
    return tags


def test_the_package_ships_the_page_files(site: Site) -> None:
    assert set(site.paths) == {"/", "/index.html", "/chat.css", "/chat.js", "/icon.svg"}


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/chat.css", "text/css; charset=utf-8"),
        ("/chat.js", "text/javascript; charset=utf-8"),
        ("/icon.svg", "image/svg+xml"),
    ],
)
def test_every_file_is_served_with_its_type_and_the_policy(site: Site, path: str, content_type: str) -> None:
    stack, client = Stack(TransportConfig(site=site), now=0.0), HttpClient()
    assert feed(stack, client.request("GET", path)) == [Served(method="GET", target=path, status=200)]
    [(response, body)] = client.responses(stack.data_to_send())
    assert header(response, "content-type") == content_type
    assert header(response, "content-security-policy") == CONTENT_SECURITY_POLICY
    assert header(response, "x-content-type-options") == "nosniff"
    assert header(response, "referrer-policy") == "no-referrer"
    assert body == (PAGE / ("index.html" if path == "/" else path[1:])).read_bytes()


def test_the_html_loads_only_the_servers_own_files(site: Site) -> None:
    tags = parsed()
    references = [
        attrs[name] for _, attrs in tags.tags for name in ("src", "href") if attrs.get(name) is not None
    ]
    assert references, "the page loads its files"
    for reference in references:
        assert reference is not None and "//" not in reference and ":" not in reference, reference
        assert site.get("/" + reference) is not None, reference
    icons = [attrs for tag, attrs in tags.tags if tag == "link" and attrs.get("rel") == "icon"]
    assert icons and icons[0]["href"] == "icon.svg"  # no favicon 404 in the console


def test_the_html_has_nothing_inline_that_the_policy_would_block() -> None:
    tags = parsed()
    assert not tags.inline_script
    for tag, attrs in tags.tags:
        assert tag != "style"
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith("on")], tag
        if tag == "script":
            assert attrs.get("src"), "every script is a file"


def test_the_html_is_usable_with_a_keyboard_and_a_screen_reader() -> None:
    tags = parsed()
    by_id = {attrs.get("id"): (tag, attrs) for tag, attrs in tags.tags}
    assert any(tag == "html" and attrs.get("lang") for tag, attrs in tags.tags)
    assert any(tag == "meta" and attrs.get("name") == "viewport" for tag, attrs in tags.tags)
    log = by_id["log"][1]
    assert log.get("role") == "log" and log.get("aria-live") == "polite"
    labelled = {attrs.get("for") for tag, attrs in tags.tags if tag == "label"}
    inputs = [attrs.get("id") for tag, attrs in tags.tags if tag == "input"]
    assert inputs and all(i in labelled for i in inputs)
    assert not any(int(attrs.get("tabindex") or 0) > 0 for _, attrs in tags.tags)  # natural focus order


def test_the_script_never_writes_html() -> None:
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in SCRIPT, sink
    assert "textContent" in SCRIPT
    assert "/ws`" in SCRIPT  # same host, the documented path


def _documented(section: str) -> set[str]:
    table = DOC.split(f"## {section}", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return set(re.findall(r"^\| `([a-z-]+)` \|", table, re.MULTILINE))


def test_the_page_sends_only_documented_commands() -> None:
    sent = set(re.findall(r'cmd: "([a-z]+)"', SCRIPT))
    documented = _documented("Commands (client → server)")
    assert sent <= documented
    assert documented - sent == {"help"}  # the page has its own help


def test_the_page_handles_every_documented_event() -> None:
    handled = set(
        re.findall(r'case "([a-z-]+)":', SCRIPT.split("function handle(", 1)[1].split("\nfunction ", 1)[0])
    )
    assert handled == _documented("Events (server → client)")


def test_the_page_says_why_for_every_documented_reason_to_quit_but_leaving() -> None:
    row = next(line for line in DOC.splitlines() if line.startswith("| `quit` | `nick`, `reason`:"))
    documented = set(re.findall(r"`([a-z-]+)`", row.split("`reason`:", 1)[1].split(";", 1)[0]))
    why = SCRIPT.split('case "quit":', 1)[1].split("};", 1)[0]  # the page's words for each reason
    said = set(re.findall(r'^\s+"?([a-z-]+)"?: ["`] \(', why, re.MULTILINE))
    assert documented - said == {"left"}


def test_the_documented_error_codes_are_stable_words() -> None:
    codes = re.findall(
        r"^\| `([a-z-]+)` \| ", DOC.split("### Error codes", 1)[1].split("\n## ", 1)[0], re.MULTILINE
    )
    assert len(codes) == len(set(codes)) >= 19
