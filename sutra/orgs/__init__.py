"""Organisations: many NGOs on one install, each with its own settings, staff, tokens and
channels. Organisation 1 is the default one; the environment is its settings."""

DEFAULT_ORG = 1
ROLES = ("admin", "staff", "viewer")
# The keys of an organisation's stored settings, which sutra.orgs.settings checks and shows;
# here so that ``sutra org set --help`` can name them without loading pydantic.
SECRETS = (
    "openai_api_key",
    "whatsapp_access_token",
    "whatsapp_app_secret",
    "gupshup_api_key",
    "gupshup_webhook_token",
)
# Settings that may be given as null ("use the platform's limit" vs "no limit" is up to the
# key: null in a stored budget lifts it, an absent one falls back to the environment's).
PLAIN = (
    "default_country",
    "llm",
    "openai_base_url",
    "default_model",
    "llm_monthly_budget",
    "llm_contact_daily_tokens",
    "whatsapp_phone_number_id",
    "whatsapp_business_account_id",
    "gupshup_app_name",
    "gupshup_source_number",
)
