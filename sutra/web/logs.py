"""Structured JSON logs for the server: one object per line, easy to ship and query."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter


def setup_json_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
