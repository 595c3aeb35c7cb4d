"""Structured JSON logs for the server: one object per line, easy to ship and query."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

from sutra.redact import redact_text


class RedactingJsonFormatter(JsonFormatter):
    """JSON lines with the secret query parameters of any URL in them masked.

    Masked on the finished line rather than per logger, because URLs reach the log from many
    places: uvicorn's access log (Gupshup's ``?token=``, Meta's ``hub.verify_token``), the HTTP
    client's request lines, exception messages and ``extra`` fields.
    """

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def setup_json_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        RedactingJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
