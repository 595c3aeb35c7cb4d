"""What the web app's routes share: built once at start-up, reached through the request."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from sutra.config import ServerSettings
from sutra.runtime.pipeline import Pipeline
from sutra.runtime.runner import Runner
from sutra.store.repository import Repository


@dataclass
class AppState:
    settings: ServerSettings
    runner: Runner
    pipeline: Pipeline

    @property
    def repo(self) -> Repository:
        return self.runner.repo


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.sutra
    return state


async def app_state(request: Request) -> AppState:
    """The dependency form of :func:`state_of`; async, because FastAPI runs a plain ``def``
    dependency in its thread pool, a hop per request."""
    return state_of(request)
