"""Organisations: many NGOs on one install, each with its own settings, staff, tokens and
channels. Organisation 1 is the default one; the environment is its settings."""

DEFAULT_ORG = 1
ROLES = ("admin", "staff", "viewer")
