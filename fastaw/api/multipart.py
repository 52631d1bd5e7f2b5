"""Files out of a ``multipart/form-data`` body (the dashboard's import upload)."""

from __future__ import annotations

from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from fastaw.errors import BadRequest


def uploaded_files(content_type: bytes, body: bytes) -> list[tuple[str, bytes]]:
    """(field name, content) of every *file* part, in order; plain fields are ignored."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary")
    files: list[tuple[str, bytes]] = []
    state: dict[str, Any] = {"headers": {}, "name": None, "chunks": [], "field": b""}

    def on_part_begin() -> None:
        state["headers"] = {}
        state["chunks"] = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        name = state["field"].lower()
        state["headers"][name] = state["headers"].get(name, b"") + data[start:end]

    def on_header_end() -> None:
        state["field"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["chunks"].append(data[start:end])

    def on_part_end() -> None:
        disposition = state["headers"].get(b"content-disposition", b"")
        _, params = parse_options_header(disposition)
        if b"filename" in params or b"filename*" in params:
            name = params.get(b"name", b"").decode("utf-8", "replace")
            files.append((name, b"".join(state["chunks"])))

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:
        raise BadRequest(f"Malformed multipart/form-data body: {exc}") from None
    return files
