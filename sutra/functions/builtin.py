"""The webhook functions shipped with Sutra; importing this module registers them."""

from sutra.functions import basic, gpt

__all__ = ["basic", "gpt"]
