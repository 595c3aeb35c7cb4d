"""Sutra: a self-hosted chatbot platform that runs Glific and RapidPro flows."""

__version__ = "0.1.0"
