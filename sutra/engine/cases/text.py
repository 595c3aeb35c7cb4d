"""Text case tests. Matching ignores case, except ``has_only_text`` in a flow not written in
Glific.

>>> from sutra.engine.cases.base import check
>>> check("has_any_word", "yes please", "Y,yes")
'yes'
>>> check("has_any_word", "yesterday", "Y,yes") is None
True
>>> check("has_any_word", "👍 yes!", "👍")
'👍'
>>> check("has_all_words", "the quick brown fox", "fox quick")
'quick fox'
>>> check("has_phrase", "I want to Create New Profile now", "create new profile")
'Create New Profile'
>>> check("has_phrase", "create a new profile", "create new profile") is None
True
>>> check("has_only_phrase", " Switch  user ", "switch user")
'Switch user'
>>> check("has_only_text", "Success", "Success"), check("has_only_text", "success", "Success")
('Success', None)
>>> check("has_only_text", "success", "Success", glific=True)  # as Glific compares
'success'
>>> check("has_beginning", "Yes sir", "yes")
'Yes'
>>> check("has_text", "  "), check("has_text", " hi ")
(None, 'hi')
>>> check("has_pattern", "ID: AB-12", r"([A-Z]{2})-(\\d+)")
'AB-12'
>>> print(check("has_pattern", "aaa", r"(a)\\1"))  # RE2 has no backreferences
ERROR: invalid pattern: invalid escape sequence: \\1
>>> check("has_any_word", "I don't like it", "don't dont")
"don't"
>>> check("has_multiple", "1, 3", "1", "2", "3"), check("has_multiple", "1, 4", "1", "2", "3")
('1, 3', None)
"""

from __future__ import annotations

import re

import re2

from sutra.engine.cases.base import CaseError, CaseInput, Match, case_test, tokens, words

# The flow author's pattern runs in RE2, as goflow's runs in Go's regexp: time linear in the
# text whatever the pattern, so no pattern can stall a worker on what a contact sends.
_PATTERN_OPTIONS = re2.Options()
_PATTERN_OPTIONS.case_sensitive = False
_PATTERN_OPTIONS.log_errors = False
# The most of a contact's text a pattern sees (a WhatsApp message is at most 4,096 characters).
_PATTERN_INPUT = 4096


def _phrase_words(args: list[str]) -> list[str]:
    return words(" ".join(args))


@case_test("has_any_word")
def has_any_word(case: CaseInput, args: list[str]) -> Match | None:
    wanted = set(_phrase_words(args))
    originals = [m.group() for m in tokens(case.text) if m.group().lower() in wanted]
    return Match(" ".join(originals)) if originals else None


@case_test("has_all_words")
def has_all_words(case: CaseInput, args: list[str]) -> Match | None:
    wanted = _phrase_words(args)
    present = set(words(case.text))
    if not wanted or not all(word in present for word in wanted):
        return None
    originals = [m.group() for m in tokens(case.text) if m.group().lower() in wanted]
    return Match(" ".join(originals))


def _find_phrase(text: str, phrase: list[str]) -> Match | None:
    found = tokens(text)
    lowered = [token.group().lower() for token in found]
    if not phrase:
        return Match("")
    for start in range(len(lowered) - len(phrase) + 1):
        if lowered[start : start + len(phrase)] == phrase:
            first, last = found[start], found[start + len(phrase) - 1]
            return Match(text[first.start() : last.end()])
    return None


@case_test("has_phrase")
def has_phrase(case: CaseInput, args: list[str]) -> Match | None:
    return _find_phrase(case.text, _phrase_words(args))


@case_test("has_only_phrase")
def has_only_phrase(case: CaseInput, args: list[str]) -> Match | None:
    if words(case.text) != _phrase_words(args):
        return None
    return Match(" ".join(case.text.split()))


@case_test("has_only_text")
def has_only_text(case: CaseInput, args: list[str]) -> Match | None:
    """The whole text, exactly (goflow); in a flow written in Glific, ignoring case, as Glific
    compares it."""
    if not args:
        return None
    wanted = args[0].strip()
    same = case.text.lower() == wanted.lower() if case.glific else case.text == wanted
    return Match(case.text) if same else None


@case_test("has_beginning")
def has_beginning(case: CaseInput, args: list[str]) -> Match | None:
    prefix = args[0].strip() if args else ""
    if prefix and case.text.lower().startswith(prefix.lower()):
        return Match(case.text[: len(prefix)])
    return None


@case_test("has_text")
def has_text(case: CaseInput, args: list[str]) -> Match | None:
    return Match(case.text) if case.text else None


@case_test("has_pattern")
def has_pattern(case: CaseInput, args: list[str]) -> Match | None:
    if not args:
        return None
    try:
        # Multi-line as goflow's: "^" and "$" also match at each line of the text.
        pattern = re2.compile("(?m)" + args[0].strip(), _PATTERN_OPTIONS)
    except re2.error as error:
        # Backreferences and lookaround are Perl's, not RE2's: such a case cannot match.
        why = error.args[0] if error.args else ""
        why = why.decode(errors="replace") if isinstance(why, bytes) else str(why)
        raise CaseError(f"invalid pattern: {why}") from None
    found = pattern.search(case.text[:_PATTERN_INPUT])
    if found is None:
        return None
    extra = {str(i): group or "" for i, group in enumerate(found.groups(), start=1)}
    extra.update({name: group or "" for name, group in found.groupdict().items()})
    extra["0"] = found.group(0)
    return Match(found.group(0), extra)


@case_test("has_multiple")
def has_multiple(case: CaseInput, args: list[str]) -> Match | None:
    """Several choices at once ("1, 3"), each one of the arguments (Glific's multi-select)."""
    allowed = {arg.strip().lower() for arg in args if arg.strip()}
    for arg in args:
        allowed.update(part.strip().lower() for part in re.split(r"[,\s]+", arg) if part.strip())
    chosen = [part for part in re.split(r"[,\s]+", case.text) if part]
    if not chosen or not all(part.lower() in allowed for part in chosen):
        return None
    return Match(", ".join(chosen))
