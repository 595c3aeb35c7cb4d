"""Assistants: answers from an organisation's documents (``filesearch-gpt``, the API, the CLI)."""
