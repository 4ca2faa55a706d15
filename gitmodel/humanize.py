"""Text for people: sizes, counted nouns, aligned tables.

Pure functions, no I/O.  The library's rendered reports (metrics.report's
markdown and text) and the CLI's output (gitmodel.commands.output, which
re-exports these) share them, so a size, a plural or a table reads the same
in every command.
"""

from __future__ import annotations

from collections.abc import Sequence


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`1 file`, `2 files`, `0 files`; `many` for irregular nouns (`copy`, `copies`)."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], md: bool = False,
          right: Sequence[int] = ()) -> str:
    """A plain-text table (columns padded, two spaces apart, no trailing
    blanks) or a GitHub markdown table.

    `right`: indexes of columns to right-align (numbers)."""
    if md:
        def cell(s: str) -> str:
            return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

        aligns = ["--:" if i in right else ":--" for i in range(len(headers))]
        lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join(aligns) + "|"]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        return "  ".join(cells).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])
