"""The webhook functions shipped with Sutra; importing this module registers them."""

from sutra.functions import basic, email, filesearch, gpt, llmstep, speech, translate, vision

__all__ = ["basic", "email", "filesearch", "gpt", "llmstep", "speech", "translate", "vision"]
