"""Prometheus metrics, exposed by ``sutra serve`` at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MESSAGES_IN = Counter("sutra_messages_in_total", "Messages received from contacts", ["channel"])
MESSAGES_OUT = Counter(
    "sutra_messages_out_total", "Messages to contacts, by outcome", ["channel", "status"]
)
MESSAGES_HANDLED = Counter(
    "sutra_messages_handled_total", "Inbound messages a flow (or no flow) has dealt with"
)
DUPLICATES = Counter(
    "sutra_duplicate_deliveries_total", "Inbound deliveries seen before", ["channel"]
)
WEBHOOK_SECONDS = Histogram(
    "sutra_webhook_seconds",
    "Webhook and function call latency",
    ["method", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
LLM_SECONDS = Histogram(
    "sutra_llm_seconds",
    "LLM call latency",
    ["provider", "model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
LLM_TOKENS = Counter("sutra_llm_tokens_total", "LLM tokens used", ["provider", "model", "kind"])
ERRORS = Counter("sutra_errors_total", "Errors by kind", ["kind"])
