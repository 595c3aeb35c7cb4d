"""Text functions: words, slices, case, trimming, replacing, matching.

Words are goflow's: runs of letters, digits, marks, ``_`` and ``'`` (``O'Grady`` is one word),
each symbol or emoji a word of its own, other punctuation and spaces between words. Given
``delimiters``, words are what lies between those characters instead.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from decimal import Decimal

import re2

from sutra.expressions.datetimes import format_date_layout, format_layout, format_time_layout
from sutra.expressions.env import TOO_COMPLEX, Evaluation
from sutra.expressions.functions.examples import show as show
from sutra.expressions.functions.numbers import format_decimal
from sutra.expressions.functions.registry import Integer, Text, Value, function
from sutra.expressions.values import ErrorValue, render, to_number

# The same words for ASCII text, found in C: letters, digits, _ and ' make words; each of
# ASCII's symbols ($ + < = > ^ ` | ~) is a word of its own.
_ASCII_WORD = re.compile(r"[A-Za-z0-9_']+|[$+<=>^`|~]")
_PATTERN_OPTIONS = re2.Options()
_PATTERN_OPTIONS.log_errors = False


def words(text: str, delimiters: str = "") -> list[str]:
    """``text``'s words, split at ``delimiters`` when given.

    >>> words("O'Grady can't foo_bar"), words("spend$£"), words("a.*b", ".*")
    (["O'Grady", "can't", 'foo_bar'], ['spend', '$', '£'], ['a', 'b'])
    """
    if delimiters:
        found: list[str] = []
        current: list[str] = []
        for char in text:
            if char in delimiters:
                if current:
                    found.append("".join(current))
                current = []
            else:
                current.append(char)
        if current:
            found.append("".join(current))
        return found
    if text.isascii():
        return _ASCII_WORD.findall(text)
    tokens: list[str] = []
    current = []
    symbol = False
    for char in text:
        kind = unicodedata.category(char)[0]
        if kind in "LN" or char in "_'":
            if symbol:
                tokens.append("".join(current))
                current, symbol = [], False
            current.append(char)
        elif kind == "M" and current:
            current.append(char)  # a mark belongs to the letter or symbol before it
        elif kind == "S":
            if current:
                tokens.append("".join(current))
            current, symbol = [char], True
        else:
            if current:
                tokens.append("".join(current))
            current, symbol = [], False
    if current:
        tokens.append("".join(current))
    return tokens


@function
def char(code: Integer) -> str:
    """The character with the Unicode ``code``.

    >>> show('@(char(33))')
    !
    >>> show('@(char(128512))')
    😀
    >>> show('@(char("foo"))')
    ERROR
    """
    return chr(code) if 0 <= code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


@function
def code(text: Text) -> Decimal:
    """The Unicode code of the first character of ``text``.

    >>> show('@(code("a"))')
    97
    >>> show('@(code("😀"))')
    128512
    >>> show('@(code(15))')
    49
    >>> show('@(code(""))')
    ERROR
    """
    if not text:
        raise ValueError("requires a string of at least one character")
    return Decimal(ord(text[0]))


@function
def clean(text: Text) -> str:
    r"""``text`` without its non-printable characters.

    >>> show(r'@(clean("😃 Hello \nwo\tr\rld"))')
    😃 Hello world
    """
    return "".join(c for c in text if unicodedata.category(c)[0] != "C")


@function
def lower(text: Text) -> str:
    """``text`` in lower case.

    >>> show('@(lower("HellO"))')
    hello
    """
    return text.lower()


@function
def upper(text: Text) -> str:
    """``text`` in upper case.

    >>> show('@(upper("Asdf"))')
    ASDF
    >>> show('@(upper(123))')
    123
    """
    return text.upper()


def _separates(char: str) -> bool:
    # Which characters start a new word for title(): as goflow's (Go's strings.Title) does.
    if ord(char) < 0x80:
        return not (char.isalnum() or char == "_")
    if char.isalpha() or char.isdigit():
        return False
    return char.isspace()


@function
def title(text: Text) -> str:
    """``text`` with each word capitalised.

    >>> show('@(title("ryan lewis"))')
    Ryan Lewis
    >>> show('@(title("RYAN LEWIS"))')
    Ryan Lewis
    """
    out: list[str] = []
    previous = " "
    for char in text.lower():
        out.append(char.title() if _separates(previous) else char)
        previous = char
    return "".join(out)


@function
def trim(text: Text, chars: Text = "") -> str:
    """``text`` without whitespace (or ``chars``) at either end.

    >>> show('@(trim(" hello world    "))')
    hello world
    >>> show('@(trim("+123157568", "+"))')
    123157568
    """
    return text.strip(chars) if chars else text.strip()


@function
def trim_left(text: Text, chars: Text = "") -> str:
    """``text`` without whitespace (or ``chars``) at its start.

    >>> show('@("*" & trim_left(" hello world   ") & "*")')
    *hello world   *
    >>> show('@(trim_left("+12345+", "+"))')
    12345+
    """
    return text.lstrip(chars) if chars else text.lstrip()


@function
def trim_right(text: Text, chars: Text = "") -> str:
    """``text`` without whitespace (or ``chars``) at its end.

    >>> show('@("*" & trim_right(" hello world   ") & "*")')
    * hello world*
    >>> show('@(trim_right("+12345+", "+"))')
    +12345
    """
    return text.rstrip(chars) if chars else text.rstrip()


@function
def split(text: Text, delimiters: Text = "") -> list[str]:
    """``text``'s words as an array, split at ``delimiters`` when given; no empty words.

    >>> show('@(split("a b c"))')
    [a, b, c]
    >>> show('@(split("abc..d", "."))')
    [abc, d]
    >>> show('@(split("a|b,c  d", " .|,"))')
    [a, b, c, d]
    """
    return words(text, delimiters)


@function
def word(text: Text, index: Integer, delimiters: Text = "") -> str:
    """The word at ``index`` (from 0; negative counts from the end).

    >>> show('@(word("bee cat dog", 0))')
    bee
    >>> show('@(word("bee.cat,dog", -1))')
    dog
    >>> show('@(word("bee.*cat,dog", 1, ".*=|"))')
    cat,dog
    >>> show('@(word("bee cat", 5))')
    ERROR
    """
    found = words(text, delimiters)
    position = index + len(found) if index < 0 else index
    if not 0 <= position < len(found):
        raise ValueError(f"index {index} is out of range for the number of words {len(found)}")
    return found[position]


@function
def word_count(text: Text, delimiters: Text = "") -> Decimal:
    """The number of words in ``text``.

    >>> show('@(word_count("foo bar"))')
    2
    >>> show('@(word_count("😀😃😄😁"))')
    4
    >>> show('@(word_count("bee.*cat,dog", ".*=|"))')
    2
    """
    return Decimal(len(words(text, delimiters)))


@function
def word_slice(text: Text, start: Integer, end: Integer = -1, delimiters: Text = "") -> str:
    """The words from ``start`` up to, not including, ``end`` (all the rest when ``end`` is
    negative), joined by spaces.

    >>> show('@(word_slice("bee cat dog", 0, 2))')
    bee cat
    >>> show('@(word_slice("bee cat dog", 1))')
    cat dog
    >>> show('@(word_slice("bee.*cat,dog", 1, -1, ".*=|,"))')
    cat dog
    """
    if start < 0:
        raise ValueError("must start with a positive index")
    if 0 < end <= start:
        raise ValueError("must have a end which is greater than the start")
    found = words(text, delimiters)
    if start >= len(found):
        return ""
    return " ".join(found[start:end] if end > 0 else found[start:])


@function
def remove_first_word(text: Text) -> str:
    """``text`` from its second word on.

    >>> show('''@(remove_first_word("Hi there. I'm a flow!"))''')
    there. I'm a flow!
    """
    found = words(text)
    if len(found) < 2:
        return ""
    rest = text[text.index(found[0]) + len(found[0]) :]
    return rest[rest.index(found[1]) :]


@function
def field(text: Text, index: Integer, delimiter: Text) -> str:
    """The field at ``index`` (from 0) of ``text`` split at ``delimiter``; a space as the
    delimiter means any run of whitespace.

    >>> show('@(field("a,b,c", 1, ","))')
    b
    >>> show('@(field("a   b c", 1, " "))')
    b
    >>> show('@(field("a,b,c", "foo", ","))')
    ERROR
    """
    if index < 0:
        raise ValueError("cannot use a negative index")
    fields = text.split(delimiter) if delimiter else list(text)
    if delimiter == " ":
        fields = [f for f in fields if f]
    return fields[index].strip() if index < len(fields) else ""


@function
def text_slice(text: Text, start: Integer, end: Integer | None = None) -> str:
    """The characters from ``start`` up to, not including, ``end`` (negative counts from the
    end).

    >>> show('@(text_slice("hello", 1, 3))')
    el
    >>> show('@(text_slice("hello😁", -3, -1))')
    lo
    """
    length = len(text)
    first = start + length if start < 0 else start
    last = length if end is None else (end + length if end < 0 else end)
    return text[max(first, 0) : max(last, 0)]


@function
def text_length(value: Text) -> Decimal:
    """The number of characters in ``value`` as text.

    >>> show('@(text_length("abc"))')
    3
    >>> show('@(text_length(array(2, 3)))')
    6
    """
    return Decimal(len(value))


@function
def text_compare(text1: Text, text2: Text) -> Decimal:
    """-1, 0 or 1 as ``text1`` sorts before, with or after ``text2``.

    >>> show('@(text_compare("abc", "def"))')
    -1
    """
    return Decimal((text1 > text2) - (text1 < text2))


@function
def repeat(ev: Evaluation, text: Text, count: Integer) -> str | ErrorValue:
    """``text`` ``count`` times.

    >>> show('@(repeat("*", 8))')
    ********
    >>> show('@(repeat("*", "foo"))')
    ERROR
    """
    if count < 0:
        raise ValueError(f"must be called with a positive integer, got {count}")
    if not ev.affords(len(text) * count):
        return ErrorValue(TOO_COMPLEX)
    return text * count


@function
def replace(
    ev: Evaluation, text: Text, needle: Text, replacement: Text, count: Integer = -1
) -> str | ErrorValue:
    """``text`` with ``needle`` replaced by ``replacement``, at most ``count`` times.

    >>> show('@(replace("foo bar foo", "foo", "zap"))')
    zap bar zap
    >>> show('@(replace("foo bar foo", "foo", "zap", 1))')
    zap bar foo
    """
    times = text.count(needle) if needle else len(text) + 1
    if count >= 0:
        times = min(times, count)
    if not ev.affords(len(text) + times * len(replacement)):
        return ErrorValue(TOO_COMPLEX)
    return text.replace(needle, replacement, count)


@function
def regex_match(text: Text, pattern: Text, group: Integer = 0) -> str:
    r"""The first match of ``pattern`` (RE2, ignoring case) in ``text``, or its ``group``.

    >>> show(r'@(regex_match("sda34dfddg67", "\d+"))')
    34
    >>> show(r'@(regex_match("Bob Smith", "(\w+) (\w+)", 2))')
    Smith
    >>> show(r'@(regex_match("abc", "[\."))')
    ERROR
    """
    try:
        compiled = re2.compile("(?mi)" + pattern, _PATTERN_OPTIONS)
    except re2.error:
        raise ValueError("invalid regular expression") from None
    found = compiled.search(text)
    groups = [found.group(0), *found.groups()] if found else []
    if not 0 <= group < len(groups):
        raise ValueError("invalid regular expression group")
    return groups[group] or ""


@function
def format_location(location: Text) -> str:
    """The name of a location path's last part.

    >>> show('@(format_location("Rwanda > Kigali"))')
    Kigali
    """
    return location.split(">")[-1].strip()


@function
def read_chars(text: Text) -> str:
    """``text`` spelt out for a voice: characters apart, in groups of 3 or 4.

    >>> show('@(read_chars("1234"))')
    1 2 3 4
    >>> show('@(read_chars("abcdef"))')
    a b c , d e f
    """
    chars = text.lstrip("+")
    for size in (3, 4):
        if len(chars) % size == 0:
            groups = [chars[i : i + size] for i in range(0, len(chars), size)]
            return " , ".join(" ".join(group) for group in groups)
    return " , ".join(chars)


@function(name="format")
def format_(ev: Evaluation, value: Value) -> str | ErrorValue:
    """``value`` as the organisation writes it: numbers with thousands separated, dates and
    times in its formats and time zone.

    >>> show('@(format(1234.5670))')
    1,234.567
    >>> show('@(format(now()))')
    11-04-2018 13:24
    >>> show('@(format(today()))')
    11-04-2018
    """
    if isinstance(value, ErrorValue):
        return value
    number = to_number(value) if isinstance(value, Decimal | int | float) else None
    if number is not None:
        return format_decimal(number, None, True)
    if isinstance(value, datetime):
        layout = f"{ev.env.date_format} {ev.env.time_format}"
        return format_layout(value.astimezone(ev.env.zone), layout)
    if isinstance(value, date):
        return format_date_layout(value, ev.env.date_format)
    if isinstance(value, time):
        return format_time_layout(value, ev.env.time_format)
    return render(value)
