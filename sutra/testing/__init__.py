"""Helpers for tests, benchmarks and demos; nothing here runs in production.

Import from the modules (``sutra.testing.openai_server``, ``graph_api``, ``gupshup_api``): this
package imports none of them, so each can also run as ``python -m sutra.testing.<module>``.
"""
