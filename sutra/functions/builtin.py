"""The webhook functions shipped with Sutra; importing this module registers them."""

from sutra.functions import basic, gpt, vision

__all__ = ["basic", "gpt", "vision"]
