"""Turns an HTML body into plain text that keeps lines, list items and table rows apart.

A walk over lxml's tree: paragraphs and line breaks become lines, list items "- " lines,
table rows lines with their cells joined by " | ", and quoted history (a cite blockquote,
Gmail's and others' quote containers) is preceded by QUOTE_MARK. It does one pass in C-backed
lxml, which matters: a general HTML-to-text renderer cost about 1 ms per kilobyte here.
"""

from __future__ import annotations

import re

from lxml import etree, html as lxml_html

# A line the thread splitter reads as "quoted history starts here".
QUOTE_MARK = "\u2063[quoted]"

_HIDDEN_STYLE = re.compile(r"(?:^|;)\s*+(?:display\s*+:\s*+none|visibility\s*+:\s*+hidden|mso-hide\s*+:\s*+all"
                           r"|font-size\s*+:\s*+0(?:px|pt|em)?\s*+(?:;|$|!)|max-height\s*+:\s*+0(?:px)?\s*+(?:;|$|!))", re.I)
_SKIP = {"head", "style", "script", "title", "meta", "link", "xml", "template", "noscript", "svg", "object"}
# Elements that end a paragraph, and elements that only end a line (Gmail writes a div per line,
# Outlook a p class="MsoNormal" per line with empty ones between paragraphs).
_PARAGRAPH = {"p", "table", "ul", "ol", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "hr", "address", "center"}
_LINE = {"div", "section", "article", "header", "footer", "main", "aside", "nav", "tbody", "thead", "tfoot", "dt", "dd",
         "form", "fieldset", "figure", "tr", "li", "br"}
_QUOTE_CLASS = re.compile(r"(?:^|\s)(?:gmail_quote|yahoo_quoted|moz-cite-prefix|protonmail_quote)(?:\s|$)")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class _Writer:
    """Collects text into lines; a "br" break on an empty line makes a blank line on purpose."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []

    def text(self, value: str | None) -> None:
        if value:
            self.current.append(_SPACES.sub(" ", value.replace("\n", " ")))

    def break_line(self, kind: str = "line") -> None:
        text = "".join(self.current).strip()
        self.current = []
        if text:
            self.lines.append(text)
        elif kind == "br":
            self.lines.append("")
        if kind == "paragraph" and self.lines and self.lines[-1]:
            self.lines.append("")

    def result(self) -> str:
        self.break_line()
        return re.sub(r"\n{3,}", "\n\n", "\n".join(self.lines)).strip("\n")


def _hidden(element) -> bool:
    """Text the reader never sees (display:none, visibility:hidden, hidden, a zero-size font, mso-hide): a CRM's
    preheader, or words slipped past the eye, is not what the sender asks."""
    if element.get("hidden") is not None:
        return True
    style = element.get("style")
    return bool(style) and bool(_HIDDEN_STYLE.search(style[:2000]))


def _walk(element, out: _Writer, depth: int = 0, in_cell: bool = False) -> None:
    if not isinstance(element.tag, str):  # comments, processing instructions
        out.text(element.tail)
        return
    tag = element.tag.rsplit("}", 1)[-1].lower()
    if tag in _SKIP or depth > 200 or _hidden(element):
        out.text(element.tail)
        return
    css = (element.get("class") or "").lower()
    if (tag == "blockquote" and (element.get("type") or "").lower() == "cite") or _QUOTE_CLASS.search(css):
        out.break_line("paragraph")
        out.text(QUOTE_MARK)
        out.break_line("paragraph")
    kind = "paragraph" if tag in _PARAGRAPH else "line" if tag in _LINE else None
    if tag == "p" and "msonormal" in css:
        kind = "line"  # Outlook: a p per line, an empty one for a blank line
    if in_cell and tag not in ("table", "tr"):
        kind = None  # Word puts paragraphs inside table cells: a cell stays on its row's line
        if tag == "br":
            out.text(" ")
    if kind and tag != "br":
        out.break_line(kind)
    if tag == "li":
        out.text("- ")
    out.text(element.text)
    cells = 0
    for child in element:
        if tag == "tr" and isinstance(child.tag, str) and child.tag.lower() in ("td", "th"):
            if cells:
                out.text(" | ")
            cells += 1
        _walk(child, out, depth + 1, (in_cell or tag in ("td", "th")) and tag != "table")
    if in_cell and kind is None:
        pass
    elif tag == "br" or (tag == "p" and "msonormal" in css):
        out.break_line("br")
    elif kind:
        out.break_line(kind)
    if depth:
        out.text(element.tail)


# Read no more HTML than this: far more than any request's text needs, and a bound on the parser's time and memory.
MAX_HTML = 1_000_000
MAX_TAGS = 60_000  # and no more tags than this (a long request in HTML has a few thousand)
# A tag this long holds thousands of attributes (the parser checks each against the rest: quadratic, in C code no
# time budget can interrupt); it is read as the bare tag. Each match stops at the next < or >: linear.
_MONSTROUS_TAG = re.compile(r"<([A-Za-z][\w:-]{0,30}+)[^<>]{4000,}+>")
_DATA_URI = re.compile(r"data:[\w/+.-]{1,60}+;base64,[A-Za-z0-9+/=\s]{200,}+")


def tame(markup: str) -> tuple[str, bool]:
    """The HTML the parser is given: inline data (images) and monstrous tags made small, and no more than
    MAX_HTML characters. True when something was cut that may have held text."""
    markup = _DATA_URI.sub("data:,", markup)
    markup = _MONSTROUS_TAG.sub(r"<\1>", markup)
    cut = len(markup) > MAX_HTML
    markup = markup[:MAX_HTML]
    if markup.count("<") > MAX_TAGS:  # a million empty <p>s: the tree, and the walk over it, stay small
        at = -1
        for _ in range(MAX_TAGS):
            at = markup.find("<", at + 1)
        markup, cut = markup[:at], True
    return markup, cut


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document; returns "" for markup that cannot be read."""
    if not markup or not markup.strip():
        return ""
    markup, _ = tame(markup)
    try:
        root = lxml_html.document_fromstring(markup)
    except (etree.ParserError, ValueError):
        return ""
    out = _Writer()
    body = root.find("body")
    _walk(body if body is not None else root, out)
    return out.result()
