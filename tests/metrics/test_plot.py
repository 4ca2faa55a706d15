"""`gitmodel plot`: a metric across versions or commits, as self-contained HTML/SVG and as PNG."""

from __future__ import annotations

import json
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

from gitmodel.metrics import plot
from tests.support.files import write
from tests.support.git import commit_without_hooks
from tests.support.metrics import build_history, set_config
from tests.support.state import file_contents


def read_png(data: bytes) -> tuple[int, int, set[tuple[int, int, int]]]:
    """(width, height, colours used) of an 8-bit RGB PNG, checking every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert (depth, ctype) == (8, 2)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert kind == b"IEND"
    raw = zlib.decompress(idat)
    stride = width * 3 + 1
    assert len(raw) == stride * height
    colours = set()
    for y in range(height):
        row = raw[y * stride + 1:(y + 1) * stride]
        assert raw[y * stride] == 0
        colours.update(tuple(row[i:i + 3]) for i in range(0, len(row), 3 * 7))  # a sample is enough
    return width, height, colours


def svg_of(html: str) -> ET.Element:
    svg = html[html.index("<svg"):html.index("</svg>") + len("</svg>")]
    return ET.fromstring(svg)


def test_plot_html_across_versions_is_self_contained(gm, repo: Path) -> None:
    build_history(repo)
    r = gm("plot", "clf", "--metric", "accuracy", "-o", "acc.html", "--json")
    assert r.code == 0, r
    data = json.loads(r.out)
    assert data["x"] == ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0"]
    assert data["series"] == [{"label": "accuracy", "values": [0.91, 0.93, None, None]}]
    assert "at clf@v1.2.0, metrics.json: not valid JSON" in r.err
    html = (repo / "acc.html").read_text()
    # Opens offline: no scripts, no external resources.
    assert "<script" not in html and not re.search(r"(src|href)=", html)
    assert re.findall(r"https?://[^\"']+", html) == ["http://www.w3.org/2000/svg"]
    svg = svg_of(html)
    ns = "{http://www.w3.org/2000/svg}"
    points = svg.findall(f"{ns}circle")
    assert [p.find(f"{ns}title").text for p in points] == ["v1.0.0: accuracy = 0.91", "v1.1.0: accuracy = 0.93"]
    labels = [t.text for t in svg.findall(f"{ns}text")]
    assert "v1.3.0" in labels and "accuracy across versions of clf" in labels


def test_plot_png(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    r = gm("plot", "clf", "-M", "accuracy", "-M", "metrics.json:loss", "-o", "chart.png", "--width", "400",
           "--height", "300")
    assert r.code == 0, r
    assert r.out == "wrote chart.png (2 versions, 2 metrics)\n"
    width, height, colours = read_png((repo / "chart.png").read_bytes())
    assert (width, height) == (400, 300)
    assert plot.PALETTE[0] in colours and plot.PALETTE[1] in colours  # both lines drawn
    # Deterministic: the same chart twice is the same bytes.
    first = (repo / "chart.png").read_bytes()
    gm("plot", "clf", "-M", "accuracy", "-M", "metrics.json:loss", "-o", "chart.png", "--width", "400",
       "--height", "300")
    assert (repo / "chart.png").read_bytes() == first


def test_plot_commits_and_default_metrics(gm, repo: Path) -> None:
    set_config(repo, '[metrics]\nfiles = ["m.json"]')
    for i in range(5):
        write(repo, "m.json", json.dumps({"acc": i / 10, "loss": 1 - i / 10, "name": "x"}))
        commit_without_hooks(repo, f"c{i}")
    r = gm("plot", "--commits", "-n", "3", "-o", "h.svg", "--json")
    assert r.code == 0, r
    data = json.loads(r.out)
    assert len(data["x"]) == 3 and all(re.fullmatch(r"[0-9a-f]{7}", x) for x in data["x"])
    assert [s["label"] for s in data["series"]] == ["acc", "loss"]  # numeric ones only
    assert data["series"][0]["values"] == [0.2, 0.3, 0.4]
    ET.fromstring((repo / "h.svg").read_text())


def test_plot_default_output_name(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    r = gm("plot", "clf", "-M", "eval.f1")
    assert r.code == 0 and (repo / "clf-eval.f1.html").is_file()


def test_plot_bad_input_writes_nothing(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    before = file_contents(repo)
    for args, needle in [
        (["plot", "clf", "-M", "accuracy", "-o", "x.jpg"], "unknown chart format"),
        (["plot", "nobody", "-M", "accuracy", "-o", "x.html"], "has no versions"),
        (["plot", "clf", "-M", "nothing", "-o", "x.html"], "absent (or not a number) at every point"),
        (["plot", "clf", "-M", "note", "-o", "x.html"], "absent (or not a number) at every point"),
        (["plot", "-M", "accuracy"], "pass --commits"),
        (["plot", "clf", "-o", "missing/x.html"], "does not exist"),
    ]:
        r = gm(*args)
        assert r.code == 1 and needle in r.err and r.err.count("\n") == 1, (args, r)
    assert file_contents(repo) == before


def test_nice_ticks() -> None:
    assert plot.nice_ticks(0.91, 0.93) == [0.91, 0.915, 0.92, 0.925, 0.93]
    ticks = plot.nice_ticks(3, 3)
    assert ticks[0] < 3 < ticks[-1]
    ticks = plot.nice_ticks(-7, 120)
    assert ticks[0] <= -7 and ticks[-1] >= 120 and len(ticks) <= 10


def test_single_point_and_gaps_render() -> None:
    chart = plot.Chart("t", ["a"], [plot.Series("s", [1.0])])
    assert read_png(plot.to_png(chart, 300, 200))[:2] == (300, 200)
    chart = plot.Chart("t", ["a", "b", "c"], [plot.Series("s", [1.0, None, 2.0])])
    svg = ET.fromstring(plot.to_svg(chart))
    assert len(svg.findall("{http://www.w3.org/2000/svg}polyline")) == 2  # a gap, not a line through it


def test_non_ascii_labels() -> None:
    chart = plot.Chart("précision ✓", ["v1", "v2"], [plot.Series("é", [1.0, 2.0])])
    assert plot.to_png(chart, 300, 200)[:4] == b"\x89PNG"
    assert "précision ✓" in plot.to_html(chart)


@pytest.mark.parametrize("name", ["x.HTML", "x.htm", "x.svg", "x.png"])
def test_formats_by_extension(name: str) -> None:
    chart = plot.Chart("t", ["a", "b"], [plot.Series("s", [1.0, 2.0])])
    assert plot.render(chart, name)
