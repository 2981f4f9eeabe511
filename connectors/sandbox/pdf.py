"""A small, dependency-free PDF writer: real PDF files (text pages) for the sandboxes' documents."""

from __future__ import annotations

import textwrap

PAGE_W, PAGE_H = 612, 792  # US Letter, points
MARGIN = 56
LINE = 14
WRAP = 92


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")  # WinAnsiEncoding: Spanish accents and ñ
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def simple_pdf(title: str, lines: list[str], *, subtitle: str | None = None) -> bytes:
    """A PDF with a bold title and wrapped text lines, split over as many pages as needed."""
    wrapped: list[str] = []
    for line in lines:
        wrapped.extend(textwrap.wrap(line, WRAP) or [""])
    per_page = (PAGE_H - 2 * MARGIN - 3 * LINE) // LINE
    pages = [wrapped[i : i + per_page] for i in range(0, max(1, len(wrapped)), per_page)] or [[]]

    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    bold = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    pages_id = len(objects) + 2 * len(pages) + 1  # the Pages object comes right after the pages
    page_ids: list[int] = []
    for number, chunk in enumerate(pages, start=1):
        y = PAGE_H - MARGIN
        ops = [b"BT", b"/F2 16 Tf", f"{MARGIN} {y} Td".encode(), b"(" + _escape(title) + b") Tj", b"ET"]
        y -= LINE + 6
        if subtitle:
            ops += [b"BT", b"/F1 10 Tf", f"{MARGIN} {y} Td".encode(), b"(" + _escape(subtitle) + b") Tj", b"ET"]
        y -= LINE * 2
        for text in chunk:
            ops += [b"BT", b"/F1 10 Tf", f"{MARGIN} {y} Td".encode(), b"(" + _escape(text) + b") Tj", b"ET"]
            y -= LINE
        footer = f"Página {number} de {len(pages)} · Documento de prueba (sandbox): sin validez legal"
        ops += [b"BT", b"/F1 8 Tf", f"{MARGIN} {MARGIN - 20} Td".encode(), b"(" + _escape(footer) + b") Tj", b"ET"]
        stream = b"\n".join(ops)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page_ids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> >>"
                % (pages_id, PAGE_W, PAGE_H, content, font, bold)
            )
        )
    kids = b" ".join(b"%d 0 R" % i for i in page_ids)
    actual_pages_id = add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids)))
    assert actual_pages_id == pages_id
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for index, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % index + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)
