"""LLM providers behind one small interface (see :mod:`sutra.llm.base`)."""
