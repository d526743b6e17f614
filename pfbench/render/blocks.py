"""Report blocks and their two renderings: Markdown (plots linked from plots/) and one self-contained HTML page
(plots inlined as base64 PNG) through the jinja2 template templates/report.html.j2.

A section is a list of blocks; a `details` block holds a titled group of blocks (collapsible in HTML, a plain
sub-heading in Markdown)."""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup


@dataclass
class Block:
    """One piece of the report: kind is heading | text | table | image | bullets | details."""

    kind: str
    content: object
    level: int = 2
    caption: str = ""
    html_id: str = ""


def heading(text: str, level: int = 2) -> Block:
    return Block("heading", text, level)


def text(body: str) -> Block:
    return Block("text", body)


def table(df: pd.DataFrame, caption: str = "", html_id: str = "") -> Block:
    return Block("table", df, caption=caption, html_id=html_id)


def image(path: Path, caption: str) -> Block:
    return Block("image", path, caption=caption)


def bullets(items: list[str]) -> Block:
    return Block("bullets", items)


def details(title: str, blocks: list[Block], level: int = 3) -> Block:
    """A titled group: a collapsible <details> in HTML, a level-``level`` heading in Markdown."""
    return Block("details", blocks, level, caption=title)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of already formatted cells."""
    if df.empty:
        return "_(no rows)_"
    cells = df.astype(str).map(lambda s: s.replace("|", "\\|").replace("\n", " "))
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False, name=None)]
    return "\n".join([head, sep] + body)


def render_markdown(blocks: list[Block], run_dir: Path) -> str:
    return "\n\n".join(_markdown(b, run_dir) for b in blocks) + "\n"


def _markdown(b: Block, run_dir: Path) -> str:
    if b.kind == "heading":
        return "#" * b.level + " " + b.content
    if b.kind == "text":
        return str(b.content)
    if b.kind == "table":
        return (f"*{b.caption}*\n\n" if b.caption else "") + markdown_table(b.content)
    if b.kind == "image":
        rel = Path(b.content).resolve().relative_to(run_dir.resolve()).as_posix()
        return f"![{b.caption}]({rel})\n\n*{b.caption}*"
    if b.kind == "bullets":
        return "\n".join(f"- {item}" for item in b.content) or "- (none)"
    if b.kind == "details":
        return "\n\n".join(["#" * b.level + " " + b.caption] + [_markdown(c, run_dir) for c in b.content])
    raise ValueError(f"unknown report block kind {b.kind!r}")


_NUMERIC = re.compile(r"^(>= |<= )?[-+]?[\d.,]+(e-?\d+)?(%|x| GiB| s)?( ± [\d.,e-]+)?$|^—$")
_REGRESSION = {"regression", "changed", "missing", "not reproduced", "implausible"}
_GOOD = {"better", "reproduced", "plausible"}


def inline(text_: str) -> Markup:
    """Escape HTML, turn `code` spans into <code> and **bold** into <b>."""
    parts = html.escape(str(text_)).split("`")
    out = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    return Markup(re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out))


def cell_class(value) -> str:
    """CSS classes of a table cell: numbers right-aligned; regressions red, improvements green."""
    text_ = str(value)
    classes = ["n"] if _NUMERIC.match(text_) else []
    if text_ in _REGRESSION:
        classes.append("bad")
    elif text_ in _GOOD:
        classes.append("good")
    elif text_ in ("inconclusive", "worse", "partly reproduced"):
        classes.append("warn")
    return " ".join(classes)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("pfbench.render", "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["inline"] = inline
    env.filters["cell_class"] = cell_class
    env.filters["b64"] = lambda path: base64.b64encode(Path(path).read_bytes()).decode("ascii")
    env.filters["paragraphs"] = lambda body: [Markup(inline(p).replace("\n", Markup("<br>")))
                                              for p in str(body).split("\n\n")]
    env.filters["rows"] = lambda df: list(df.itertuples(index=False, name=None))
    return env


def render_html(blocks: list[Block], title: str) -> str:
    return _env().get_template("report.html.j2").render(title=title, blocks=blocks)
