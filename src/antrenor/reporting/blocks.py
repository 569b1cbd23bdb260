"""Reports as blocks: built once as a list of (kind, content), rendered twice, so a report's Markdown and
HTML always say the same thing. Used by the prepare, eval, monitor and human reports.

    >>> blocks = [("h1", "Results"), ("p", "**tuned** beats base"), ("table", (["metric", "value"], [["acc", fmt(0.91)]]))]
    >>> html, markdown = render_html(blocks, title="results"), render_markdown(blocks)
"""

from __future__ import annotations

import html
import math
from typing import Any

Block = tuple[str, Any]  # ("h2", text) | ("p", text) | ("table", (headers, rows)) | ("img", (alt, base64))


def plain_values(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, nan/inf to null."""
    if isinstance(value, dict):
        return {str(k): plain_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_values(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a report cell: thousands separated, `digits` decimals, a dash for none or nan."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def render_markdown(blocks: list[Block], html_name: str = "eval_report.html") -> str:
    """The blocks as Markdown; an image becomes a pointer to the HTML report that embeds it."""
    lines = []
    for kind, content in blocks:
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + content, ""]
        elif kind == "p":
            lines += [content, ""]
        elif kind == "table":
            headers, rows = content
            cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
            lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
            lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows] + [""]
        elif kind == "img":
            lines += [f"*({content[0]}: see {html_name})*", ""]
    return "\n".join(lines)


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1f2933}"
         "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}td,th{border:1px solid #d9e2ec;padding:.3em .6em;"
         "text-align:left;vertical-align:top}th{background:#f0f4f8}img{max-width:100%}")


def render_html(blocks: list[Block], title: str = "antrenor evaluation") -> str:
    """The blocks as one self-contained HTML page (images embedded, everything escaped)."""
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body>"]
    for kind, content in blocks:
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{html.escape(content)}</{kind}>")
        elif kind == "p":
            text = html.escape(content)
            while "**" in text:  # the headline's bold names
                text = text.replace("**", "<b>", 1).replace("**", "</b>", 1)
            parts.append(f"<p>{text}</p>")
        elif kind == "table":
            headers, rows = content
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in headers) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows]
            parts.append("</table>")
        elif kind == "img":
            parts.append(f"<img alt='{html.escape(content[0])}' src='data:image/png;base64,{content[1]}'>")
    parts.append("</body></html>")
    return "".join(parts)
