"""What a run will cost before it starts: calls, tokens and USD, and roughly how long.

Tokens are estimated at about four characters a token (as the conversation memory counts
them), and an answer as long as the expected one (at least 20 tokens); USD comes from the same
price table as the usage records (``SUTRA_LLM_PRICES``), so local models cost nothing. The time
assumes each call takes what such calls usually take and ``concurrency`` of them at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sutra.config import LLMPrice
from sutra.evals.judge import RUBRIC
from sutra.evals.targets import CallShape
from sutra.llm.usage import price_for

# Seconds a call usually takes: OpenAI's small models answer a short question in about 2 s;
# the embedded model decodes ~40 tokens a second on a small CPU, a few answers at once.
OPENAI_CALL_SECONDS = 2.0
EMBEDDING_CALL_SECONDS = 0.3
LOCAL_TOKENS_PER_SECOND = 40.0
JUDGE_REPLY_TOKENS = 60


def tokens(text: str) -> int:
    """
    >>> tokens(""), tokens("What is ORS?")
    (1, 3)
    """
    return max(1, math.ceil(len(text) / 4))


@dataclass
class Line:
    purpose: str
    model: str
    provider: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def cost(self, prices: Mapping[str, LLMPrice]) -> float:
        if self.provider == "local":
            return 0.0
        price = price_for(self.model, prices)
        if price is None:
            return 0.0
        return (self.prompt_tokens * price.prompt + self.completion_tokens * price.completion) / 1e6


def estimate(
    questions: Sequence[tuple[str, str]],
    *,
    calls: Sequence[CallShape],
    target_provider: str,
    duplication: int,
    concurrency: int,
    judge: tuple[str, str] | None,
    embedding_model: str | None,
    prices: Mapping[str, LLMPrice],
) -> dict[str, object]:
    """``questions`` are (question, expected) pairs; ``judge`` is (provider, model) or None."""
    lines: dict[tuple[str, str], Line] = {}

    def line(purpose: str, model: str, provider: str) -> Line:
        return lines.setdefault((purpose, model), Line(purpose, model, provider))

    for question, expected in questions:
        answer_tokens = max(20, tokens(expected))
        for shape in calls:
            target = line("target", shape.model, target_provider)
            target.calls += duplication
            target.prompt_tokens += duplication * (tokens(shape.prompt) + tokens(question) + 8)
            target.completion_tokens += duplication * answer_tokens
            target.seconds += duplication * _seconds(target_provider, answer_tokens)
        if judge is not None:
            provider, model = judge
            grading = line("judge", model, provider)
            grading.calls += duplication
            grading.prompt_tokens += duplication * (
                tokens(RUBRIC) + tokens(question) + tokens(expected) + answer_tokens + 20
            )
            grading.completion_tokens += duplication * JUDGE_REPLY_TOKENS
            grading.seconds += duplication * _seconds(provider, JUDGE_REPLY_TOKENS)
        if embedding_model is not None:
            embedding = line("embedding", embedding_model, "openai")
            # Each answer, and each expected answer once.
            embedding.calls += duplication + 1
            embedding.prompt_tokens += duplication * answer_tokens + tokens(expected)
            embedding.seconds += (duplication + 1) * EMBEDDING_CALL_SECONDS
    rows = [
        {
            "purpose": item.purpose,
            "model": item.model,
            "provider": item.provider,
            "calls": item.calls,
            "prompt_tokens": item.prompt_tokens,
            "completion_tokens": item.completion_tokens,
            "cost": round(item.cost(prices), 6),
        }
        for item in lines.values()
    ]
    seconds = sum(item.seconds for item in lines.values())
    return {
        "questions": len(questions),
        "answers": len(questions) * duplication,
        "calls": sum(item.calls for item in lines.values()),
        "prompt_tokens": sum(item.prompt_tokens for item in lines.values()),
        "completion_tokens": sum(item.completion_tokens for item in lines.values()),
        "cost": round(sum(item.cost(prices) for item in lines.values()), 6),
        "seconds": round(seconds / max(1, concurrency), 1),
        "lines": rows,
    }


def _seconds(provider: str, completion_tokens: int) -> float:
    if provider == "local":
        return completion_tokens / LOCAL_TOKENS_PER_SECOND
    return OPENAI_CALL_SECONDS
