"""PDF documents (the Bureau's monthly progress report, an institution's statement): titled sections of
key figures and tables, in the caller's language, with a Chinese font from Debian's fonts-wqy-microhei
(embedded, subset), so the file reads the same on any machine."""

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

from portal.i18n import gettext
from portal.tables import Table

FONT = "PlanCJK"


class FontMissing(RuntimeError):
    pass


@cache
def _register(path: Path) -> str:
    if not path.exists():
        raise FontMissing(f"the PDF font {path} is missing: apt-get install fonts-wqy-microhei (or set PDF_FONT)")
    pdfmetrics.registerFont(TTFont(FONT, str(path), subfontIndex=0))
    return FONT


@dataclass
class Section:
    heading: str  # translated already
    figures: Sequence[tuple[str, str]] = ()  # (label, value), translated already
    table: Table | None = None
    paragraphs: Sequence[str] = field(default_factory=list)


def document(title: str, subtitle: str, sections: Sequence[Section], font_path: Path) -> bytes:
    font = _register(font_path)
    styles = {
        "title": ParagraphStyle("title", fontName=font, fontSize=18, leading=24, spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", fontName=font, fontSize=10, leading=14, textColor=colors.grey),
        "heading": ParagraphStyle("heading", fontName=font, fontSize=13, leading=18, spaceBefore=10, spaceAfter=4),
        "body": ParagraphStyle("body", fontName=font, fontSize=9, leading=13, wordWrap="CJK"),
        "cell": ParagraphStyle("cell", fontName=font, fontSize=8, leading=10, wordWrap="CJK"),
    }
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=landscape(A4), leftMargin=14 * mm, rightMargin=14 * mm, topMargin=12 * mm, bottomMargin=12 * mm,
        title=title, author=gettext("Shijiazhuang live-commerce talent plan"),
    )  # fmt: skip
    story: list[object] = [Paragraph(_escape(title), styles["title"]), Paragraph(_escape(subtitle), styles["subtitle"])]
    for section in sections:
        story.append(Paragraph(_escape(section.heading), styles["heading"]))
        for text in section.paragraphs:
            story.append(Paragraph(_escape(text), styles["body"]))
        if section.figures:
            rows = [
                [Paragraph(_escape(k), styles["cell"]), Paragraph(_escape(v), styles["cell"])]
                for k, v in section.figures
            ]
            grid = LongTable(rows, colWidths=[80 * mm, 60 * mm], hAlign="LEFT")
            grid.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.lightgrey)]))
            story.append(grid)
        if section.table is not None:
            story.append(Spacer(1, 3 * mm))
            story.append(_table(section.table, styles["cell"]))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    def footer(canvas: object, doc: object) -> None:
        canvas.setFont(font, 7)  # type: ignore[attr-defined]
        canvas.drawString(14 * mm, 7 * mm, f"{title} · {stamp} · {canvas.getPageNumber()}")  # type: ignore[attr-defined]

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _table(table: Table, style: ParagraphStyle) -> LongTable:
    header = [Paragraph(_escape(gettext(c.label)), style) for c in table.columns]
    body = [[Paragraph(_escape(table.display(row, c)), style) for c in table.columns] for row in table.rows]
    if not body:
        body = [[Paragraph(_escape(gettext(table.empty)), style)] + [""] * (len(table.columns) - 1)]
    grid = LongTable([header, *body], repeatRows=1, hAlign="LEFT")
    grid.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return grid


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
