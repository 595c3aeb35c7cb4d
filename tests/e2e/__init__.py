"""End-to-end tests: the real ``sutra`` CLI, the real OpenAI SDK, real SQLite, loopback servers."""
