"""Small HTML and chart pieces shared by the sections: bar charts, figures as
SVG data URIs, number cells, names and byte counts.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from npusim.cost import short_name
from npusim.report.html.collect import SVG_SALT
from npusim.report.tables import format_bytes

# -- small pieces ------------------------------------------------------------------------------

def _provenance(paths: Iterable[str], estimated: Mapping[str, str]) -> str:
    """The badge under a figure: which estimated profile figures it rests on, and why each
    is an estimate (folded)."""
    paths = sorted(p for p in set(paths) if p in estimated)
    if not paths:
        return '<div class="prov ok">Rests on published profile figures only.</div>'
    items = "".join(f"<li><code>{html.escape(p)}</code>: {html.escape(estimated[p])}</li>"
                    for p in paths)
    return (f'<details class="prov est"><summary><span class="badge">estimated</span> '
            f"Rests on {len(paths)} estimated profile figure{'s' if len(paths) != 1 else ''}"
            "</summary><ul>" + items + "</ul></details>")


def _figure(fig, title: str, text: str, provenance: str, wide: bool = False) -> str:
    return _figure_uri(svg_data_uri(fig), title, text, provenance, wide)


def _figure_uri(uri: str, title: str, text: str, provenance: str, wide: bool = False) -> str:
    return (f'<figure class="panel{" wide" if wide else ""}"><h3>{html.escape(title)}</h3>'
            f'<img alt="{html.escape(title)}" src="{uri}">'
            f"<figcaption>{html.escape(text)}</figcaption>{provenance}</figure>")


def svg_data_uri(fig) -> str:
    """A matplotlib Figure as a base64 SVG data URI, with no date and fixed ids."""
    import matplotlib
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT, "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def _num(value, text: str) -> str:
    if value is None:
        v = "-Infinity"
    elif isinstance(value, float) and math.isinf(value):
        v = "Infinity" if value > 0 else "-Infinity"
    elif isinstance(value, float) and math.isnan(value):
        v = "-Infinity"
    else:
        v = repr(value) if isinstance(value, float) else str(value)
    return f'<td class="num" data-v="{v}">{text}</td>'


def _f(v, digits: int) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}f}"


def _star(flag: bool) -> str:
    return '<span class="est">*</span>' if flag else ""


def _short(members: Sequence[str]) -> str:
    """A group's short name, as the terminal table prints it."""
    return short_name(members, 40) if members else "?"


def _name_cell(members: Sequence[str]) -> str:
    """First node name (clipped by CSS) and the count of the others (never clipped)."""
    first = members[0].split("+")[0] if members else "?"
    more = f'<span class="more">+{len(members) - 1}</span>' if len(members) > 1 else ""
    return f'<span class="n">{html.escape(first)}</span>{more}'


def _op_summary(op_types: Sequence[str]) -> str:
    counts = Counter(op_types)
    seen = dict.fromkeys(op_types)
    return ", ".join(f"{counts[o]} {o}" if counts[o] > 1 else o for o in seen)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


_bytes = format_bytes


def page_shell(title: str, header: str, main: str, footer: str, script: str = "") -> str:
    """One self-contained page around its parts: the document head (charset, viewport,
    generator, title, the report's CSS), then header, main, footer and an optional script.
    `title` is plain text; the parts are HTML."""
    from npusim import __version__
    from npusim.report.html.assets import _CSS
    js = f"\n<script>{script}</script>" if script else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="npusim {__version__}">
<title>npusim: {html.escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header><div class="wrap">
{header}
</div></header>
<main class="wrap">
{main}
</main>
<footer class="wrap">npusim {__version__}: {footer}</footer>{js}
</body>
</html>
"""
