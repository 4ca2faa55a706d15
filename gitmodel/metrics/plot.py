"""Charts of a metric across versions: self-contained HTML (inline SVG) and PNG.

No plotting dependency. A chart here is a few lines over a handful to a few
hundred points, and it has to open offline, in CI artifacts and in PR
comments: an inline SVG inside one HTML file does that with no script and no
network, and a small PNG writer (zlib + struct from the standard library, a
built-in 5x7 bitmap font) gives the raster version without pulling
matplotlib and numpy (tens of megabytes) into every CI image. The output is
also byte-for-byte deterministic, which keeps charts diffable and testable.

Both renderers share one layout (`_Layout`), so the HTML and the PNG show
the same axes, ticks and labels.
"""

from __future__ import annotations

import html
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from gitmodel.errors import GitmodelError

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
FORMATS = (".html", ".htm", ".svg", ".png")


@dataclass
class Series:
    label: str
    values: list[float | None]  # one per x label; None where the metric is absent


@dataclass
class Chart:
    title: str
    xlabels: list[str]
    series: list[Series]
    ylabel: str = ""
    xlabel: str = ""


# -- layout --------------------------------------------------------------------


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if hi < lo:
        lo, hi = hi, lo
    span = hi - lo
    if span == 0:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi, span = lo - pad, hi + pad, 2 * pad
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(k * mag for k in (1, 2, 2.5, 5, 10) if k * mag >= raw)
    start = math.floor(lo / step) * step
    ticks: list[float] = []
    v = start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(v, 12))
    return ticks


def tick_text(v: float, ticks: Sequence[float]) -> str:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step)) + (1 if step / 10 ** math.floor(math.log10(step)) == 2.5 else 0))
    text = f"{v:.{min(decimals, 10)}f}"
    return "0" if text.strip("-0.") == "" else text


class _Layout:
    """Pixel positions for a chart of `width` x `height` with `char_w` x `char_h` text."""

    def __init__(self, chart: Chart, width: int, height: int, char_w: int, char_h: int,
                 ylabel_row: bool = False) -> None:
        if not chart.xlabels:
            raise GitmodelError("nothing to plot: no versions or commits were found")
        self.chart = chart
        self.width, self.height = width, height
        values = [v for s in chart.series for v in s.values if v is not None]
        if not values:
            raise GitmodelError("nothing to plot: the metric is absent (or not a number) at every point")
        self.ticks = nice_ticks(min(values), max(values))
        self.tick_labels = [tick_text(t, self.ticks) for t in self.ticks]
        self.char_w, self.char_h = char_w, char_h
        n = len(chart.xlabels)
        half_first = (len(chart.xlabels[0]) * char_w) // 2 + 4
        half_last = (len(chart.xlabels[-1]) * char_w) // 2 + 4 if n > 1 else 0
        rotated_ylabel = bool(chart.ylabel) and not ylabel_row
        self.left = max(max(len(t) for t in self.tick_labels) * char_w + 18 + (char_h + 8 if rotated_ylabel else 0),
                        half_first)
        self.right = max(24, half_last)
        self.legend_y = char_h * 2 + 12  # top of the legend row
        self.ylabel_y = self.legend_y + (char_h + 10 if len(chart.series) > 1 else 0)
        self.top = self.ylabel_y + (char_h + 10 if chart.ylabel and ylabel_row else 0) + char_h // 2 + 4
        self.bottom = char_h * 2 + 20 + (char_h + 8 if chart.xlabel else 0)
        self.plot_w = max(width - self.left - self.right, 10)
        self.plot_h = max(height - self.top - self.bottom, 10)
        self.step_x = self.plot_w / (n - 1) if n > 1 else 0.0
        # Show as many x labels as fit without overlapping, evenly spaced, always the last one.
        widest = max(len(x) for x in chart.xlabels) * char_w + char_w * 2
        every = max(1, math.ceil(widest / self.step_x)) if n > 1 else 1
        shown = set(range(0, n, every)) | {n - 1}
        if n > 1 and (n - 1) % every and (n - 1) - max(i for i in shown if i != n - 1) < every:
            shown.discard(max(i for i in shown if i != n - 1))
        self.shown_x = sorted(shown)

    def x(self, i: int) -> float:
        if len(self.chart.xlabels) == 1:
            return self.left + self.plot_w / 2
        return self.left + i * self.step_x

    def y(self, v: float) -> float:
        lo, hi = self.ticks[0], self.ticks[-1]
        return self.top + self.plot_h - (v - lo) / (hi - lo) * self.plot_h

    def segments(self, s: Series) -> list[list[tuple[float, float]]]:
        """Runs of consecutive present points (a gap where the metric is absent)."""
        runs: list[list[tuple[float, float]]] = []
        cur: list[tuple[float, float]] = []
        for i, v in enumerate(s.values):
            if v is None:
                if cur:
                    runs.append(cur)
                cur = []
            else:
                cur.append((self.x(i), self.y(v)))
        if cur:
            runs.append(cur)
        return runs


# -- SVG / HTML ----------------------------------------------------------------


def _rgb(c: tuple[int, int, int]) -> str:
    return f"#{c[0]:02x}{c[1]:02x}{c[2]:02x}"


def to_svg(chart: Chart, width: int = 960, height: int = 540) -> str:
    lay = _Layout(chart, width, height, char_w=7, char_h=12)
    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img">',
           f"<title>{e(chart.title)}</title>",
           f'<rect width="{width}" height="{height}" fill="#fff"/>',
           f'<text x="{width / 2:.1f}" y="{lay.char_h + 10}" text-anchor="middle" font-size="16" '
           f'font-weight="bold">{e(chart.title)}</text>']
    for t, label in zip(lay.ticks, lay.tick_labels):
        y = lay.y(t)
        out.append(f'<line x1="{lay.left}" x2="{lay.left + lay.plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#e5e5e5"/>')
        out.append(f'<text x="{lay.left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#444">{e(label)}</text>')
    base_y = lay.top + lay.plot_h
    out.append(f'<line x1="{lay.left}" x2="{lay.left + lay.plot_w}" y1="{base_y}" y2="{base_y}" stroke="#888"/>')
    out.append(f'<line x1="{lay.left}" x2="{lay.left}" y1="{lay.top}" y2="{base_y}" stroke="#888"/>')
    for i in lay.shown_x:
        x = lay.x(i)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base_y}" y2="{base_y + 4}" stroke="#888"/>')
        out.append(f'<text x="{x:.1f}" y="{base_y + lay.char_h + 8}" text-anchor="middle" fill="#444">'
                   f"{e(chart.xlabels[i])}</text>")
    if chart.xlabel:
        out.append(f'<text x="{lay.left + lay.plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                   f"{e(chart.xlabel)}</text>")
    if chart.ylabel:
        cy = lay.top + lay.plot_h / 2
        out.append(f'<text transform="translate({lay.char_h + 2},{cy:.1f}) rotate(-90)" text-anchor="middle">'
                   f"{e(chart.ylabel)}</text>")
    for k, s in enumerate(chart.series):
        color = _rgb(PALETTE[k % len(PALETTE)])
        for run in lay.segments(s):
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        r = 3.5 if len(s.values) <= 60 else 2
        for i, v in enumerate(s.values):
            if v is not None:
                out.append(f'<circle cx="{lay.x(i):.1f}" cy="{lay.y(v):.1f}" r="{r}" fill="{color}">'
                           f"<title>{e(chart.xlabels[i])}: {e(s.label)} = {v:g}</title></circle>")
    if len(chart.series) > 1:
        x = lay.left
        y = lay.legend_y + lay.char_h
        for k, s in enumerate(chart.series):
            color = _rgb(PALETTE[k % len(PALETTE)])
            out.append(f'<rect x="{x}" y="{y - 9}" width="14" height="10" fill="{color}"/>')
            out.append(f'<text x="{x + 18}" y="{y}">{e(s.label)}</text>')
            x += 18 + len(s.label) * lay.char_w + 24
    out.append("</svg>")
    return "\n".join(out)


def to_html(chart: Chart, width: int = 960, height: int = 540) -> str:
    """One HTML file, no scripts, no external resources: it opens offline."""
    e = html.escape
    rows = "\n".join(
        "<tr><td>" + e(x) + "</td>" + "".join(
            f"<td>{'' if s.values[i] is None else e(f'{s.values[i]:g}')}</td>" for s in chart.series) + "</tr>"
        for i, x in enumerate(chart.xlabels))
    head = "".join(f"<th>{e(s.label)}</th>" for s in chart.series)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{e(chart.title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
td, th {{ border: 1px solid #ddd; padding: 2px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
</style>
</head>
<body>
{to_svg(chart, width, height)}
<details><summary>Values</summary>
<table>
<tr><th>{e(chart.xlabel or "version")}</th>{head}</tr>
{rows}
</table>
</details>
<p><small>Made by gitmodel plot.</small></p>
</body>
</html>
"""


# -- PNG -------------------------------------------------------------------------

# The classic 5x7 LCD font, printable ASCII from 0x20: five column bytes per
# glyph, bit 0 at the top. Characters outside it are drawn as '?'.
_FONT = bytes.fromhex(
    "0000000000" "00005f0000" "0007000700" "147f147f14" "242a7f2a12" "2313086462" "3649552250" "0005030000"
    "001c224100" "0041221c00" "082a1c2a08" "08083e0808" "0050300000" "0808080808" "0060600000" "2010080402"
    "3e5149453e" "00427f4000" "4261514946" "2141454b31" "1814127f10" "2745454539" "3c4a494930" "0171090503"
    "3649494936" "064949291e" "0036360000" "0056360000" "0008142241" "1414141414" "4122140800" "0201510906"
    "324979413e" "7e1111117e" "7f49494936" "3e41414122" "7f4141221c" "7f49494941" "7f09090101" "3e41415132"
    "7f0808087f" "00417f4100" "2040413f01" "7f08142241" "7f40404040" "7f0204027f" "7f0408107f" "3e4141413e"
    "7f09090906" "3e4151215e" "7f09192946" "4649494931" "01017f0101" "3f4040403f" "1f2040201f" "7f2018207f"
    "6314081463" "0304780403" "6151494543" "00007f4141" "0204081020" "41417f0000" "0402010204" "4040404040"
    "0001020400" "2054545478" "7f48444438" "3844444420" "384444487f" "3854545418" "087e090102" "081454543c"
    "7f08040478" "00447d4000" "2040443d00" "007f102844" "00417f4000" "7c0418047c" "7c08040478" "3844444438"
    "7c14141408" "081414187c" "7c08040408" "4854545420" "043f444020" "3c4040207c" "1c2040201c" "3c4030403c"
    "4428102844" "0c5050503c" "4464544c44" "0008364100" "00007f0000" "0041360800" "0201020402"
)


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.px = bytearray(b"\xff" * (width * height * 3))

    def dot(self, x: int, y: int, c: tuple[int, int, int]) -> None:
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(c)

    def rect(self, x0: int, y0: int, x1: int, y1: int, c: tuple[int, int, int]) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.w - 1, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.h - 1, max(y0, y1))
        if x1 < x0 or y1 < y0:
            return
        row = bytes(c) * (x1 - x0 + 1)
        for y in range(y0, y1 + 1):
            i = (y * self.w + x0) * 3
            self.px[i:i + len(row)] = row

    def line(self, x0: float, y0: float, x1: float, y1: float, c: tuple[int, int, int], width: int = 1) -> None:
        ax, ay, bx, by = round(x0), round(y0), round(x1), round(y1)
        dx, dy = abs(bx - ax), -abs(by - ay)
        sx, sy = (1 if ax < bx else -1), (1 if ay < by else -1)
        err = dx + dy
        lo, hi = -(width // 2), (width - 1) // 2
        while True:
            if width == 1:
                self.dot(ax, ay, c)
            else:
                self.rect(ax + lo, ay + lo, ax + hi, ay + hi, c)
            if ax == bx and ay == by:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                ax += sx
            if e2 <= dx:
                err += dx
                ay += sy

    def text(self, x: int, y: int, s: str, c: tuple[int, int, int], scale: int = 1) -> None:
        """Draw `s` with its top-left corner at (x, y)."""
        for ch in s:
            code = ord(ch)
            if not 0x20 <= code <= 0x7E:
                code = ord("?")
            glyph = _FONT[(code - 0x20) * 5:(code - 0x20) * 5 + 5]
            for col, bits in enumerate(glyph):
                for row in range(7):
                    if bits >> row & 1:
                        px, py = x + col * scale, y + row * scale
                        self.rect(px, py, px + scale - 1, py + scale - 1, c)
            x += 6 * scale

    def png(self) -> bytes:
        raw = bytearray()
        stride = self.w * 3
        for y in range(self.h):
            raw.append(0)  # filter: none
            raw += self.px[y * stride:(y + 1) * stride]

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        ihdr = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)  # 8-bit RGB
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
                + chunk(b"IEND", b""))


def to_png(chart: Chart, width: int = 960, height: int = 540) -> bytes:
    scale = 2
    cw, chh = 6 * scale, 7 * scale
    lay = _Layout(chart, width, height, char_w=cw, char_h=chh, ylabel_row=True)
    cv = _Canvas(width, height)
    grid, axis, ink = (229, 229, 229), (136, 136, 136), (68, 68, 68)
    title = chart.title
    max_chars = max(1, (width - 20) // (cw * 1))
    if len(title) > max_chars:
        title = title[:max_chars - 1] + "~"
    cv.text((width - len(title) * cw) // 2, 8, title, (0, 0, 0), scale)
    for t, label in zip(lay.ticks, lay.tick_labels):
        y = round(lay.y(t))
        cv.line(lay.left, y, lay.left + lay.plot_w, y, grid)
        cv.text(lay.left - 8 - len(label) * cw, y - chh // 2, label, ink, scale)
    base_y = lay.top + lay.plot_h
    cv.line(lay.left, base_y, lay.left + lay.plot_w, base_y, axis)
    cv.line(lay.left, lay.top, lay.left, base_y, axis)
    for i in lay.shown_x:
        x = round(lay.x(i))
        label = chart.xlabels[i]
        cv.line(x, base_y, x, base_y + 4, axis)
        cv.text(x - len(label) * cw // 2, base_y + 8, label, ink, scale)
    if chart.xlabel:
        cv.text(lay.left + (lay.plot_w - len(chart.xlabel) * cw) // 2, height - chh - 6, chart.xlabel, ink, scale)
    if chart.ylabel:
        # No rotated text in a bitmap font: the y label goes above the axis instead.
        cv.text(4, lay.ylabel_y, chart.ylabel[: max(1, (width - 8) // cw)], ink, scale)
    for k, s in enumerate(chart.series):
        color = PALETTE[k % len(PALETTE)]
        r = 3 if len(s.values) <= 60 else 1
        for run in lay.segments(s):
            for (x0, y0), (x1, y1) in zip(run, run[1:]):
                cv.line(x0, y0, x1, y1, color, width=2)
            for px, py in run:
                cv.rect(round(px) - r, round(py) - r, round(px) + r, round(py) + r, color)
    if len(chart.series) > 1:
        x, y = lay.left, lay.legend_y
        for k, s in enumerate(chart.series):
            color = PALETTE[k % len(PALETTE)]
            cv.rect(x, y + 2, x + 12, y + chh - 2, color)
            cv.text(x + 18, y, s.label, ink, scale)
            x += 18 + len(s.label) * cw + 24
    return cv.png()


def check_output(path: str) -> None:
    if not path.lower().endswith(FORMATS):
        raise GitmodelError(f"{path}: unknown chart format", hint="name the output file .html, .svg or .png")


def render(chart: Chart, path: str, width: int = 960, height: int = 540) -> bytes:
    """The chart in the format named by `path`'s extension."""
    check_output(path)
    lower = path.lower()
    if lower.endswith(".png"):
        return to_png(chart, width, height)
    if lower.endswith(".svg"):
        return (to_svg(chart, width, height) + "\n").encode("utf-8")
    return to_html(chart, width, height).encode("utf-8")
