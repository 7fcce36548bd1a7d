"""Email HTML: sanitised with ``nh3`` (the Rust ``ammonia`` sanitiser) and turned into the
plain-text alternative every multipart email carries.

The allow-list is what email clients render reliably: text structure, lists, tables,
links and images over http(s), and a small set of inline style properties.  Scripts,
event handlers (``onerror``, ``onclick``, ...), forms, iframes, ``javascript:`` URLs and
comments are removed; ``<script>`` and ``<style>`` lose their content too.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "div", "em",
        "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p",
        "pre", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"align", "class", "dir", "lang", "style", "title"},
    "a": {"href", "name", "target"},
    "img": {"alt", "height", "src", "width"},
    "font": {"color", "face", "size"},
    "table": {"bgcolor", "border", "cellpadding", "cellspacing", "width"},
    "td": {"bgcolor", "colspan", "height", "rowspan", "valign", "width"},
    "th": {"bgcolor", "colspan", "height", "rowspan", "valign", "width"},
    "tr": {"bgcolor", "valign"},
}
ALLOWED_STYLE_PROPERTIES = frozenset(
    {
        "background-color", "border", "border-collapse", "border-radius", "color",
        "font-family", "font-size", "font-style", "font-weight", "height", "line-height",
        "margin", "margin-bottom", "margin-left", "margin-right", "margin-top", "max-width",
        "padding", "padding-bottom", "padding-left", "padding-right", "padding-top",
        "text-align", "text-decoration", "vertical-align", "width",
    }
)  # fmt: skip
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


def sanitise_html(html: str) -> str:
    """``html`` with everything outside the email allow-list removed."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        filter_style_properties=set(ALLOWED_STYLE_PROPERTIES),
        strip_comments=True,
        link_rel="noopener noreferrer",
    )


_BLOCKS = frozenset(
    {
        "blockquote", "center", "div", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
        "ol", "p", "pre", "table", "tr", "ul",
    }
)  # fmt: skip
_SKIP = frozenset({"script", "style", "head", "title"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._pre = 0
        self._links: list[tuple[str | None, int]] = []
        self._list_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
            return
        if tag in _BLOCKS:
            self.out.append("\n\n" if tag not in {"li", "tr"} else "\n")
        if tag == "pre":
            self._pre += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("  " * max(0, self._list_depth - 1) + "- ")
        elif tag in {"ul", "ol"}:
            self._list_depth += 1
        elif tag in {"td", "th"}:
            self.out.append("\t")
        elif tag == "hr":
            self.out.append("-" * 20 + "\n")
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.out)))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.out.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif tag in {"ul", "ol"}:
            self._list_depth = max(0, self._list_depth - 1)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            label = "".join(self.out[start:]).strip()
            target = (href or "").removeprefix("mailto:")
            if target and not target.startswith("#") and target != label:
                self.out.append(f" ({target})" if label else target)
        if tag in _BLOCKS and tag not in {"li", "tr"}:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.out.append(data if self._pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text alternative of ``html``.

    Paragraphs and headings become blank-line separated blocks, ``<br>`` a line break,
    list items ``- item``, table cells tab-separated, and links ``label (url)``.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.strip(" \t") for line in "".join(parser.out).splitlines()]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n" if text.strip() else ""


__all__ = ["ALLOWED_TAGS", "URL_SCHEMES", "html_to_text", "sanitise_html"]
