"""The report's page: sections that fail on their own, tables in boxes that scroll sideways, figures
as base64 PNGs, one style sheet; what a browser needs to keep the page at the window's width."""

from __future__ import annotations

import base64
import html
import io
import math
import re
import time
import traceback
from typing import Any, Callable

import pandas as pd

from . import plots as P


class Page:
    """The report's HTML parts, one section at a time; a section that raises is shown as an error
    and the others still render."""

    def __init__(self, say: Callable[[str], Any]) -> None:
        self.say, self.parts, self.errors = say, [], {}

    def section(self, title: str, key: str, draw: Callable[[], list[str]]) -> None:
        self.say(f"report: {title}")
        self.parts.append(f"<h2>{html.escape(title)}</h2>")
        try:
            self.parts.extend(draw())
        except Exception as e:  # noqa: BLE001 -- one broken section must not lose the others
            self.errors[key] = f"{type(e).__name__}: {e}"
            self.parts.append(f"<p class='error'>Could not draw this section: "
                              f"{html.escape(self.errors[key])}</p>"
                              f"<pre>{html.escape(traceback.format_exc(limit=3))}</pre>")


IMG = re.compile(r"<img id='([\w-]+)' alt='[\w-]+' src='data:image/png;base64,([^']+)'>")


def img(fig_id: str, fig: Any) -> str:
    """The figure as an <img> with its id (``IMG`` finds them again), closed once drawn."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    P.pyplot().close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img id='{fig_id}' alt='{fig_id}' src='data:image/png;base64,{data}'>"


def table(t: pd.DataFrame, index: bool = False, header: bool = True, kind: str = "t") -> str:
    """A table in its own box, which scrolls sideways when the table is wider than the page (the
    page itself never does). kind: "t" (one value per cell, never wrapped) or "kv" (the
    overview's names and sentences, left-aligned, wrapped)."""
    markup = t.to_html(index=index, header=header, border=0, classes=kind, na_rep="-",
                       escape=True)
    return f"<div class='box'>{markup}</div>"


def rounded(t: pd.DataFrame) -> pd.DataFrame:
    """Floats as short strings: MSEs in scientific notation, rates as percentages."""
    out = t.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            if "rate" in c:
                out[c] = out[c].map(lambda v: "-" if pd.isna(v) else f"{v:.0%}")
            else:
                out[c] = out[c].map(num)
    return out


def num(v: float) -> str:
    """A number as short text: 3 digits, scientific outside [1e-2, 1e4)."""
    if pd.isna(v):
        return "-"
    if not math.isfinite(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.3g}" if 1e-2 <= abs(v) < 1e4 or v == 0 else f"{v:.2e}"


def document(title: str, parts: list[str]) -> str:
    """The whole HTML page: its style, its title and the sections' parts."""
    # the page is at most the window's width: wide tables scroll inside their box (.box), cells
    # never wrap a value (a sweep name would break at its hyphens), long paths wrap anywhere
    style = """
    body { font-family: sans-serif; margin: 2em; max-width: 1400px; overflow-wrap: anywhere; }
    .box { max-width: 100%; overflow-x: auto; margin: 0.5em 0 1em; }
    table.t, table.kv { border-collapse: collapse; font-size: 12px; }
    table.t td, table.t th { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right;
                             white-space: nowrap; overflow-wrap: normal; }
    table.kv td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: left;
                  vertical-align: top; }
    table.kv td:first-child { font-weight: bold; white-space: nowrap; }
    img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
    .error { color: #b00; font-weight: bold; }
    .warn { color: #8a4b00; font-weight: bold; }
    pre { font-size: 11px; background: #f6f6f6; padding: 0.5em; overflow-x: auto;
          white-space: pre-wrap; }
    """
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>Generated {stamp} by <code>python -m analysis report</code>.</p>"
            + "\n".join(parts) + "</body></html>\n")
