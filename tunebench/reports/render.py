"""Tables and their rendering: rounded numbers, the best per row in bold, escaped names.

A :class:`Table` holds already formatted cells (so HTML, Markdown and LaTeX show the same digits)
and the raw numbers (written as CSV). The HTML and Markdown pages come from jinja2 templates with
autoescaping on; LaTeX is written here, booktabs style.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

DASH = "—"


@dataclass(frozen=True)
class Cell:
    text: str
    bold: bool = False


@dataclass
class Table:
    name: str  # file stem of its CSV, and its id in the page
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    data: pd.DataFrame  # the numbers behind it, unrounded (written as CSV)
    note: str = ""
    in_latex: bool = True
    collapsed: bool = False  # shown folded in the HTML page (long tables)
    align: list[str] = field(default_factory=list)  # "l" or "r" per column; default: text left
    compact: bool = False  # tight cells (a runner × runner matrix)

    def __post_init__(self) -> None:
        if not self.align:
            self.align = ["l"] + ["r"] * (len(self.columns) - 1)


# -- numbers ---------------------------------------------------------------------------------

def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt(x: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits, fixed-point where readable, else scientific."""
    if not _finite(x):
        return DASH
    x = float(x) + 0.0  # no "-0"
    if x == 0:
        return "0"
    a = abs(float(f"{x:.{digits}g}"))  # magnitude after rounding: 0.99999 → 1.000, not 1.0000
    if 1e-3 <= a < 1e6:
        decimals = min(6, max(0, digits - 1 - math.floor(math.log10(a))))
        text = f"{x:.{decimals}f}"
        return "0" if float(text) == 0 else text
    return f"{x:.{digits - 1}e}"


def fmt_int(x: Any) -> str:
    return f"{int(x)}" if _finite(x) else DASH


def fmt_pm(mean: Any, half: Any) -> str:
    """``mean ± half`` with the half-width to two significant digits and the mean to match."""
    if not _finite(mean):
        return DASH
    if not _finite(half):
        return fmt(mean)
    mean, half = float(mean) + 0.0, abs(float(half))
    if half == 0:
        return f"{fmt(mean)} ± 0"
    decimals = 1 - math.floor(math.log10(half))
    if abs(mean) >= 1e6 or decimals > 8:
        return f"{mean:.3e} ± {half:.1e}"
    decimals = max(0, decimals)
    return f"{mean:.{decimals}f} ± {half:.{decimals}f}"


def fmt_ci(center: Any, lo: Any, hi: Any) -> str:
    """``center [lo, hi]``, or just the centre where there is no interval."""
    if not _finite(center):
        return DASH
    if not (_finite(lo) and _finite(hi)):
        return fmt(center)
    return f"{fmt(center)} [{fmt(lo)}, {fmt(hi)}]"


def fmt_p(p: Any) -> str:
    if not _finite(p):
        return DASH
    return "< 0.001" if float(p) < 0.001 else f"{float(p):.3f}"


def p_clause(p: Any) -> str:
    """``p = 0.012`` or ``p < 0.001``, for prose."""
    text = fmt_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def fmt_seconds(x: Any) -> str:
    if not _finite(x):
        return DASH
    x = float(x)
    if x >= 3600:
        return f"{x / 3600:.2f} h"
    if x >= 60:
        return f"{x / 60:.1f} min"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.1f} ms"
    return f"{x * 1e6:.0f} µs" if x > 0 else "0 s"


def best_mask(values: pd.DataFrame, maximize: Sequence[bool] | bool = False) -> np.ndarray:
    """True at each row's best finite value (ties all marked)."""
    v = values.to_numpy(dtype=float)
    flags = np.broadcast_to(np.asarray(maximize, dtype=bool), (v.shape[0],))
    mask = np.zeros(v.shape, dtype=bool)
    for i, row in enumerate(v):
        finite = np.isfinite(row)
        if finite.sum() < 2:
            continue
        target = np.nanmax(row) if flags[i] else np.nanmin(row)
        mask[i] = finite & np.isclose(row, target, rtol=1e-12, atol=0)
    return mask


def wide_table(name: str, title: str, frame: pd.DataFrame, *, index_name: str,
               formatter: Callable[[Any], str] = fmt, texts: pd.DataFrame | None = None,
               bold: np.ndarray | None = None, data: pd.DataFrame | None = None,
               note: str = "") -> Table:
    """A table whose rows are ``frame``'s index and whose columns are its columns."""
    rows = []
    for i, (idx, row) in enumerate(frame.iterrows()):
        cells = [Cell(str(idx))]
        for j, col in enumerate(frame.columns):
            text = texts.iloc[i, j] if texts is not None else formatter(row[col])
            cells.append(Cell(str(text), bool(bold[i, j]) if bold is not None else False))
        rows.append(cells)
    raw = data if data is not None else frame.rename_axis(index_name).reset_index()
    return Table(name, title, [index_name, *map(str, frame.columns)], rows, raw, note)


def long_table(name: str, title: str, frame: pd.DataFrame,
               formats: dict[str, Callable[[Any], str]] | None = None, *,
               headers: dict[str, str] | None = None, bold: dict[str, np.ndarray] | None = None,
               data: pd.DataFrame | None = None, note: str = "", **options: Any) -> Table:
    """A table with one row per record of ``frame``; columns formatted by ``formats``."""
    formats = formats or {}
    headers = headers or {}
    bold = bold or {}
    columns_cells = []
    for col in frame.columns:
        formatter = formats.get(col, _default_format)
        flags = bold.get(col)
        columns_cells.append([Cell(formatter(v), bool(flags[i]) if flags is not None else False)
                              for i, v in enumerate(frame[col].tolist())])
    rows = [list(row) for row in zip(*columns_cells, strict=True)] if columns_cells else []
    columns = [headers.get(c, c.replace("_", " ")) for c in frame.columns]
    align = ["r" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(
        frame[c]) else "l" for c in frame.columns]
    return Table(name, title, columns, rows, data if data is not None else frame, note,
                 align=align, **options)


def _default_format(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return fmt(value)
    return str(value)


# -- Markdown and LaTeX ----------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md_escape(text: object) -> str:
    """Text safe inside a Markdown table cell: no markup, no raw HTML."""
    out = _MD_SPECIAL.sub(r"\\\1", str(text))
    out = out.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return out.replace("\n", " ")


def md_table(table: Table) -> str:
    def cell(c: Cell) -> str:
        text = md_escape(c.text)
        return f"**{text}**" if c.bold and text else text

    lines = ["| " + " | ".join(md_escape(c) for c in table.columns) + " |",
             "|" + "|".join("--:" if a == "r" else ":--" for a in table.align) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", '"': "''",
}
_TEX_UNICODE = {"±": r"$\pm$", DASH: "--", "…": r"\ldots{}", "µ": r"$\mu$", "½": r"$\frac12$",
                "≥": r"$\geq$", "≤": r"$\leq$", "×": r"$\times$", "−": r"$-$"}


def tex_escape(text: object) -> str:
    out = "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))
    for char, command in _TEX_UNICODE.items():
        out = out.replace(char, command)
    return out


def latex_table(table: Table) -> str:
    def cell(c: Cell) -> str:
        text = tex_escape(c.text)
        return rf"\textbf{{{text}}}" if c.bold and text else text

    spec = "".join(table.align)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{tex_escape(table.title)}}}",
        rf"\label{{tab:{table.name.replace('_', '-')}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(tex_escape(c) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(cell(c) for c in row) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def latex_document(tables: Sequence[Table], title: str) -> str:
    """Every table, ready to ``\\input`` into a paper (needs ``\\usepackage{booktabs}``)."""
    head = [f"% {tex_escape(title)}: tables written by tunebench.",
            r"% Requires \usepackage{booktabs} in the preamble.", ""]
    return "\n".join(head) + "\n\n".join(latex_table(t) for t in tables if t.in_latex) + "\n"


# -- templates -------------------------------------------------------------------------------

@dataclass
class Page:
    """What the templates receive."""

    title: str
    generated: str
    summary: list[tuple[str, str]]
    warnings: list[str]
    sections: list[Any]
    tables: dict[str, Table]
    figures: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    #: What the report found, first on the page: (kind, text) with kind p, note or warn.
    headline: list[tuple[str, str]] = field(default_factory=list)


def _longest_backtick_run(text: str) -> int:
    runs = re.findall(r"`+", str(text))
    return max((len(r) for r in runs), default=0)


def _md_finalize(value: Any) -> Any:
    """Markdown's autoescape: every ``{{ value }}`` is escaped unless it is already markup."""
    return value if isinstance(value, Markup) else md_escape(value)


def environment(markdown: bool = False) -> jinja2.Environment:
    """HTML templates autoescape; Markdown templates escape every expression for Markdown."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tunebench.reports", "templates"),
        autoescape=not markdown, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        finalize=_md_finalize if markdown else None,
    )
    env.filters["md_table"] = lambda table: Markup(md_table(table))
    env.filters["fence"] = lambda text: Markup("`" * max(3, _longest_backtick_run(text) + 1))
    env.filters["raw_md"] = Markup
    return env


def render_html(page: Page) -> str:
    return environment().get_template("index.html.j2").render(page=page)


def render_markdown(page: Page) -> str:
    return environment(markdown=True).get_template("report.md.j2").render(page=page)
