"""Turns an HTML body into plain text that keeps lines, list items and table rows apart."""

from __future__ import annotations

import re

from inscriptis import Inscriptis
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from lxml import etree, html as lxml_html

# A line the thread splitter reads as "quoted history starts here".
QUOTE_MARK = "\u2063[quoted]"

_CONFIG = ParserConfig(css=CSS_PROFILES["strict"], table_cell_separator=" | ")
_QUOTE_BLOCK = re.compile(r"(?:^|\s)(?:gmail_quote|yahoo_quoted|moz-cite-prefix|protonmail_quote)(?:\s|$)")


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document; returns "" for markup that cannot be read."""
    if not markup or not markup.strip():
        return ""
    try:
        root = lxml_html.document_fromstring(markup)
    except (etree.ParserError, ValueError):
        return ""
    for quote in root.xpath("//blockquote[@type='cite'] | //*[@class]"):
        if quote.tag == "blockquote" or _QUOTE_BLOCK.search(quote.get("class", "")):
            marker = lxml_html.Element("p")
            marker.text = QUOTE_MARK
            quote.addprevious(marker)
    try:
        text = Inscriptis(root, _CONFIG).get_text()
    except (RecursionError, ValueError):  # absurdly deep markup
        text = " ".join(root.itertext())
    return "\n".join(line.rstrip() for line in text.splitlines())
