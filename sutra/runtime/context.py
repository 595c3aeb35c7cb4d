"""Build a ready :class:`Runner`: migrated database, HTTP client, LLM services, settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sutra.config import get_settings
from sutra.functions.services import Services
from sutra.outbound import guarded_client
from sutra.runtime.environment import environment_from_settings
from sutra.runtime.runner import Runner, Send
from sutra.runtime.webhooks import WebhookSettings
from sutra.store.db import create_async_engine_for, create_session_factory, migrate
from sutra.store.hotdb import HotDB
from sutra.store.repository import Repository


@asynccontextmanager
async def open_runner(
    database_url: str | None = None,
    *,
    channel: str,
    send: Send | None = None,
    skip_time_waits: bool = False,
) -> AsyncIterator[Runner]:
    settings = get_settings()
    await asyncio.to_thread(migrate, database_url)
    engine = create_async_engine_for(database_url)
    db = HotDB(database_url).start()
    # Only webhooks and vision use it, at URLs flows choose: the fetch policy applies.
    http = guarded_client()
    try:
        repo = Repository(create_session_factory(engine))
        secret = settings.webhook_secret
        yield Runner(
            repo,
            db,
            services=Services(http=http, db=repo.sessions, defer_usage=True),
            channel=channel,
            send=send,
            timezone=settings.timezone,
            environment=environment_from_settings(settings),
            skip_time_waits=skip_time_waits,
            webhook_settings=WebhookSettings(
                http_timeout=settings.webhook_timeout,
                max_bytes=settings.webhook_max_bytes,
                function_timeout=settings.function_timeout,
                signing_secret=secret.get_secret_value() if secret else None,
            ),
        )
    finally:
        await http.aclose()
        db.close()
        await engine.dispose()
