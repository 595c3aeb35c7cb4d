"""AI evaluations: how good the bot's answers are, measured before beneficiaries see them.

A *golden set* (questions with their expected answers, uploaded as CSV or XLSX, versioned) is
put to a *target* (a ``parse_via_chat_gpt`` configuration, a flow's GPT node, a whole flow run
as a simulated contact) in an *evaluation run*; every answer is scored (embedding or lexical
similarity, an LLM judge, exact and contains matches) and stored as it finishes, so a run
survives a restart. Two runs can be compared question by question.

Importing this package is cheap: the LLM stack loads only when a run starts.
"""
