"""Read report.html back: the text of each table's cells, their classes, and every tag with its attributes."""

from __future__ import annotations

from html.parser import HTMLParser


class Cells(HTMLParser):
    """Text of every table row, by the table's class, and every tag and attribute met."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[list[str]]] = {}
        self.row_classes: dict[str, list[list[str]]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._table = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._table = dict(attrs).get("class") or ""
        elif tag == "tr":
            self.rows.setdefault(self._table, []).append([])
            self.row_classes.setdefault(self._table, []).append([])
        elif tag in ("td", "th"):
            self._cell = []
            self.row_classes[self._table][-1].append(dict(attrs).get("class") or "")
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[self._table][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse_cells(html: str) -> Cells:
    p = Cells()
    p.feed(html)
    return p
