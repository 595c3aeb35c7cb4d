"""The ``sutra serve`` application: channel webhooks, REST API, flow editor, simulator, health,
metrics."""

from __future__ import annotations

import asyncio
import gc
import hmac
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from sutra import __version__
from sutra.config import ServerSettings, get_settings
from sutra.evals import pages as evals_pages
from sutra.functions.services import Services
from sutra.http import async_client
from sutra.orgs import DEFAULT_ORG
from sutra.orgs.channels import whatsapp_scheme
from sutra.orgs.directory import Directory
from sutra.outbound import guarded_client
from sutra.runtime.environment import environment_from_settings
from sutra.runtime.media import MediaStore
from sutra.runtime.pacing import Pacer
from sutra.runtime.pipeline import Pipeline
from sutra.runtime.runner import Runner
from sutra.runtime.webhooks import WebhookSettings
from sutra.store.db import create_async_engine_for, create_session_factory, migrate
from sutra.store.db import database_url as default_database_url
from sutra.store.hotdb import HotDB
from sutra.store.repository import Repository
from sutra.web import (
    alerts,
    api,
    apidocs,
    assistant_pages,
    auth,
    chats,
    cleaning,
    console,
    editor,
    failures,
    limits,
    pages,
    simulator,
    startup,
    tickets,
    webhooks,
)
from sutra.web.assistants import router as assistants_router
from sutra.web.state import AppState


def create_app(
    database_url: str | None = None,
    *,
    settings: ServerSettings | None = None,
    services: Services | None = None,
    sweep_every: float = 1.0,
    freeze_gc: bool = False,
) -> FastAPI:
    server = settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = get_settings()
        await asyncio.to_thread(migrate, database_url)
        # The LLM SDKs take over a second to import: at start-up, not on the first question.
        importlib.import_module("sutra.llm.select")
        # Under a burst, pipeline work queues for connections longer than SQLAlchemy's default
        # 30 s; waiting is right there (nothing is lost), an error is not.
        engine = create_async_engine_for(database_url, pool_timeout=600)
        db = HotDB(database_url).start()
        http = async_client()
        sessions = create_session_factory(engine)
        # Each organisation's channels: the environment's and the stored settings'.
        directory = Directory(sessions, server, http)
        channels = await directory.channels(DEFAULT_ORG)
        build = getattr(app.state, "flow_editor", None)
        startup.report(
            server,
            config,
            database_url or default_database_url(),
            f"{build.version} at {build.root}" if build is not None else None,
        )
        # The URLs webhooks and vision fetch are chosen by flows, so they go through the fetch
        # policy; the channels' APIs, set by staff, do not.
        fetch = guarded_client()
        secret = config.webhook_secret
        media = MediaStore(Path(server.sutra_media_dir), server.sutra_public_url)
        if services is not None and services.media is None:
            services.media = media
        runner = Runner(
            Repository(sessions),
            db,
            services=services or Services(http=fetch, db=sessions, defer_usage=True, media=media),
            channel="sim",
            timezone=config.timezone,
            environment=environment_from_settings(config),
            webhook_settings=WebhookSettings(
                http_timeout=config.webhook_timeout,
                max_bytes=config.webhook_max_bytes,
                function_timeout=config.function_timeout,
                signing_secret=secret.get_secret_value() if secret else None,
            ),
        )
        runner.channels_by_scheme = {"whatsapp": whatsapp_scheme(channels), "sim": "sim"}
        share = server.whatsapp_messages_per_second / server.sutra_workers
        pacers = {"whatsapp": Pacer(share)}
        pipeline = Pipeline(
            runner,
            channels,
            sweep_every=sweep_every,
            media=media,
            max_in_flight=server.sutra_max_in_flight,
            org_in_flight=server.sutra_org_in_flight,
            working_turns=server.sutra_working_turns,
            doubt_seconds=server.sutra_send_doubt_seconds,
            send_timeout=server.sutra_send_timeout,
            pacers=pacers,
            directory=directory,
            messages_per_second=share,
        )
        app.state.sutra = AppState(server, runner, pipeline, directory)
        await pipeline.start()
        if freeze_gc:
            # What start-up loaded (modules, flows, schemas, settings) lives as long as the
            # process. Frozen, the collector stops walking it at each full collection, which
            # otherwise took 100-200 ms under a burst: no contact's step runs meanwhile.
            gc.collect()
            gc.freeze()
            # Fewer, larger young collections: most of a message's objects die before one.
            gc.set_threshold(10_000, 50, 100)
        try:
            yield
        finally:
            await pipeline.stop()
            await http.aclose()
            await fetch.aclose()
            db.close()
            await engine.dispose()

    # /docs and /redoc are apidocs', whose scripts are served from here, not a CDN.
    app = FastAPI(
        title="Sutra", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    apidocs.install(app)
    # Outermost last: the body limit applies before anything reads a body.
    app.add_middleware(cleaning.CleanJSONMiddleware)
    app.add_middleware(limits.BodyLimitMiddleware, settings=server)
    media_dir = Path(server.sutra_media_dir)
    media_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/media", StaticFiles(directory=media_dir), name="media")
    app.include_router(webhooks.router)
    app.include_router(api.router)
    app.include_router(failures.router)
    app.include_router(assistants_router)
    # The pages staff use (sign-in, flows, flow editor, simulator): they need a session.
    auth.install(app)
    editor.install(app, server)
    app.include_router(pages.router)
    chats.install(app)
    alerts.install(app)
    tickets.install(app)
    simulator.install(app)
    # Contacts, results, AI usage: their pages and their /api/v1 twins.
    console.install(app)
    # Assistants: /assistants and /assistants/{id}, their calls under /console/api/assistants.
    assistant_pages.install(app)
    # AI evaluations: /evals, /evals/api, /api/v1/evals, and the runs' background service.
    evals_pages.install(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        # Counts of contacts, errors and LLM spend are not for the public: a token, or nothing.
        token = server.sutra_metrics_token
        if token is None or not token.get_secret_value():
            raise HTTPException(404, "metrics are off: set SUTRA_METRICS_TOKEN")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def serve_app() -> FastAPI:
    """The app ``sutra serve`` runs: :func:`create_app` as a long-lived server process."""
    return create_app(freeze_gc=True)
