"""goflow's router case tests, as its reference and its own test table define them, through
Sutra's case tests: each row is a call and what goflow answers.

Rows come from three published sources, as facts (a call and its answer), not code:

- goflow's case test reference (docs/md/routing.md: "``@(has_number("the number is 42")) →
  {match: 42}``"), in the context its docs use (sutra.expressions.functions.examples: Ryan
  Lewis, America/Guayaquil, 11 April 2018 13:24:30.123456 there);
- goflow's table of case tests (flows/routers/cases/tests_test.go): Africa/Kigali, dates day
  first, default country RW, at 13:24:30.123456 UTC on 11 April 2018, with its location
  hierarchy (Rwanda > Kigali City > Gasabo > Gisozi, Paktika);
- its phone number table (the same file's TestHasPhone) and its has_error templates.

An expected answer is the match as goflow renders it, ``None`` for no match, or ``ERROR`` when
goflow's test is an error. A router case that fails does not match (goflow logs the error and
goes on; Sutra warns), so ERROR agrees with a Sutra case that raises or does not match.

Each row is run as Sutra's router runs a case: the operand evaluated (an expression), its text
trimmed, the arguments rendered as text. ``DIFFERENCES`` lists the rows Sutra answers otherwise
on purpose, with Sutra's answer and why (docs/compatibility.md says the same);
``test_agreement_figures`` checks the figures that page quotes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from sutra.engine.cases import CASE_TESTS, CaseError, CaseInput
from sutra.engine.locations import Location
from sutra.engine.session import Environment
from sutra.expressions import evaluate_value, render
from sutra.expressions.env import Env, Evaluation
from sutra.expressions.functions.examples import EXAMPLE_CONTEXT, EXAMPLE_ENV
from sutra.expressions.values import ErrorValue, Function

# goflow's test hierarchy (its aliases in Pashto and Dari are written as they are there).
RWANDA = Location.model_validate(
    {
        "name": "Rwanda",
        "aliases": ["Ruanda"],
        "children": [
            {
                "name": "Kigali City",
                "aliases": ["Kigali", "Kigari"],
                "children": [
                    {"name": "Gasabo", "children": [{"name": "Gisozi"}, {"name": "Ndera"}]},
                    {"name": "Nyarugenge", "children": []},
                ],
            },
            {
                "name": "Paktika",
                "aliases": [
                    "Janikhel",
                    "Terwa",
                    "Yahyakhel",
                    "Yusufkhel",
                    "\u067e\u06a9\u062a\u06cc\u06a9\u0627",
                    "\u062a\u0631\u0648\u0648",
                    "\u06cc\u062d\u06cc\u06cc \u062e\u06cc\u0644",
                    "\u06cc\u0648\u0633\u0641 \u062e\u06cc\u0644",
                ],
                "children": [],
            },
        ],
    }
)


@dataclass(frozen=True)
class Setting:
    """Where a row runs: the organisation's settings, the time, the context."""

    env: Environment
    now: datetime
    context: Mapping[str, Any]

    @property
    def expression_env(self) -> Env:
        return Env(timezone=self.env.timezone, date_format=self.env.date_format, now=self.now)


DOCS = Setting(
    Environment(timezone="America/Guayaquil", locations=RWANDA),
    EXAMPLE_ENV.now or datetime.now(UTC),
    EXAMPLE_CONTEXT,
)
TABLE = Setting(
    Environment(
        timezone="Africa/Kigali", date_format="DD-MM-YYYY", default_country="RW", locations=RWANDA
    ),
    datetime(2018, 4, 11, 13, 24, 30, 123456, tzinfo=UTC),
    {
        "array1": ["one", "two", "three"],
        "thing": {"foo": "bar", "zed": 123, "missing": None},
    },
)
RESULT = (
    '{"name": "Response 1", "value": "hi", "category": "%s", "input": "hello", '
    '"node_uuid": "0faca870-aca4-469d-89e2-a70df468ac68", '
    '"created_on": "2018-07-06T12:30:06.123456789Z"}'
)
INTENTS = (
    '{"name": "Intention", "value": "0.92", "category": "success", '
    '"input": "book me a flight to Quito!", "created_on": "2018-07-06T12:30:06.123456789Z", '
    '"extra": {"intents": [{"name": "book_flight", "confidence": 0.7}, '
    '{"name": "book_hotel", "confidence": 0.3}], "entities": {"location": '
    '[{"value": "Quito", "confidence": 1.0}, {"value": "Cuenca", "confidence": 0.1}], '
    '"date": [{"value": "May 21", "confidence": 0.6}]}}}'
)
GROUPS = (
    '[{"uuid": "group-uuid-1", "name": "Testers"}, {"uuid": "group-uuid-2", "name": "Customers"}]'
)

# (call, goflow's match): goflow's reference, docs/md/routing.md.
DOCUMENTED: list[tuple[str, str | None]] = [
    ('has_all_words("the quick brown FOX", "the fox")', "the FOX"),
    ('has_all_words("the quick brown fox", "red fox")', None),
    ('has_any_word("The Quick Brown Fox", "fox quick")', "Quick Fox"),
    ('has_any_word("The Quick Brown Fox", "red fox")', "Fox"),
    ('has_beginning("The Quick Brown", "the quick")', "The Quick"),
    ('has_beginning("The Quick Brown", "the   quick")', None),
    ('has_beginning("The Quick Brown", "quick brown")', None),
    ('has_date("the date is 15/01/2017")', "2017-01-15T13:24:30.123456-05:00"),
    ('has_date("there is no date here, just a year 2017")', None),
    ('has_date_eq("the date is 15/01/2017", "2017-01-15")', "2017-01-15T13:24:30.123456-05:00"),
    (
        'has_date_eq("the date is 15/01/2017 15:00", "2017-01-15")',
        "2017-01-15T15:00:00.000000-05:00",
    ),
    ('has_date_eq("there is no date here, just a year 2017", "2017-06-01")', None),
    ('has_date_eq("there is no date here, just a year 2017", "not date")', "ERROR"),
    ('has_date_gt("the date is 15/01/2017", "2017-01-01")', "2017-01-15T13:24:30.123456-05:00"),
    ('has_date_gt("the date is 15/01/2017", "2017-03-15")', None),
    ('has_date_gt("there is no date here, just a year 2017", "2017-06-01")', None),
    ('has_date_gt("there is no date here, just a year 2017", "not date")', "ERROR"),
    ('has_date_lt("the date is 15/01/2017", "2017-06-01")', "2017-01-15T13:24:30.123456-05:00"),
    ('has_date_lt("there is no date here, just a year 2017", "2017-06-01")', None),
    ('has_date_lt("there is no date here, just a year 2017", "not date")', "ERROR"),
    ('has_district("Gasabo", "Kigali")', "Rwanda > Kigali City > Gasabo"),
    ('has_district("I live in Gasabo", "Kigali")', "Rwanda > Kigali City > Gasabo"),
    ('has_district("Gasabo", "Boston")', None),
    ('has_district("Gasabo")', "Rwanda > Kigali City > Gasabo"),
    ('has_email("my email is foo1@bar.com, please respond")', "foo1@bar.com"),
    ('has_email("my email is <foo@bar2.com>")', "foo@bar2.com"),
    ('has_email("i\'m not sharing my email")', None),
    (
        'has_error(datetime("foo"))',
        'error calling DATETIME: unable to convert "foo" to a datetime',
    ),
    ("has_error(run.not.existing)", "object has no property 'not'"),
    ("has_error(contact.fields.unset)", "object has no property 'unset'"),
    ('has_error("hello")', None),
    (
        'has_group(contact.groups, "b7cf0d83-f1c9-411c-96fd-c511a4cfa86d")',
        "{name: Testers, uuid: b7cf0d83-f1c9-411c-96fd-c511a4cfa86d}",
    ),
    ('has_group(array(), "97fe7029-3a15-4005-b0c7-277b884fc1d5")', None),
    ('has_number("the number is 42")', "42"),
    ('has_number("the number is forty two")', None),
    ('has_number_between("the number is 42", 40, 44)', "42"),
    ('has_number_between("the number is 42", 50, 60)', None),
    ('has_number_between("the number is not there", 50, 60)', None),
    ('has_number_between("the number is not there", "foo", 60)', "ERROR"),
    ('has_number_eq("the number is 42", 42)', "42"),
    ('has_number_eq("the number is 42", 40)', None),
    ('has_number_eq("the number is not there", 40)', None),
    ('has_number_eq("the number is not there", "foo")', "ERROR"),
    ('has_number_gt("the number is 42", 40)', "42"),
    ('has_number_gt("the number is 42", 42)', None),
    ('has_number_gt("the number is not there", 40)', None),
    ('has_number_gt("the number is not there", "foo")', "ERROR"),
    ('has_number_gte("the number is 42", 42)', "42"),
    ('has_number_gte("the number is 42", 45)', None),
    ('has_number_gte("the number is not there", 40)', None),
    ('has_number_gte("the number is not there", "foo")', "ERROR"),
    ('has_number_lt("the number is 42", 44)', "42"),
    ('has_number_lt("the number is 42", 40)', None),
    ('has_number_lt("the number is not there", 40)', None),
    ('has_number_lt("the number is not there", "foo")', "ERROR"),
    ('has_number_lte("the number is 42", 42)', "42"),
    ('has_number_lte("the number is 42", 40)', None),
    ('has_number_lte("the number is not there", 40)', None),
    ('has_number_lte("the number is not there", "foo")', "ERROR"),
    ('has_only_phrase("The Quick Brown Fox", "quick brown")', None),
    ('has_only_phrase("Quick Brown", "quick brown")', "Quick Brown"),
    ('has_only_phrase("the Quick Brown fox", "")', None),
    ('has_only_phrase("", "")', ""),
    ('has_only_phrase("The Quick Brown Fox", "red fox")', None),
    ('has_pattern("Sell cheese please", "buy (\\\\w+)")', None),
    ('has_pattern("Buy cheese please", "buy (\\\\w+)")', "Buy cheese"),
    ('has_phone("my number is +12067799294")', "+12067799294"),
    ('has_phone("my number is 2067799294", "US")', "+12067799294"),
    ('has_phone("my number is 206 779 9294", "US")', "+12067799294"),
    ('has_phone("my number is none of your business", "US")', None),
    ('has_phrase("the quick brown fox", "brown fox")', "brown fox"),
    ('has_phrase("the Quick Brown fox", "quick fox")', None),
    ('has_phrase("the Quick Brown fox", "")', ""),
    ('has_state("Kigali")', "Rwanda > Kigali City"),
    ('has_state("¡Kigali!")', "Rwanda > Kigali City"),
    ('has_state("I live in Kigali")', "Rwanda > Kigali City"),
    ('has_state("Boston")', None),
    ('has_text("quick brown")', "quick brown"),
    ('has_text("")', None),
    ('has_text(" \\n")', None),
    ("has_text(123)", "123"),
    ("has_text(contact.fields.not_set)", None),
    ('has_time("the time is 10:30")', "10:30:00.000000"),
    ('has_time("the time is 10 PM")', "22:00:00.000000"),
    ('has_time("the time is 10:30:45")', "10:30:45.000000"),
    ('has_time("there is no time here, just the number 25")', None),
    ('has_ward("Gisozi", "Gasabo", "Kigali")', "Rwanda > Kigali City > Gasabo > Gisozi"),
    ('has_ward("I live in Gisozi", "Gasabo", "Kigali")', "Rwanda > Kigali City > Gasabo > Gisozi"),
    ('has_ward("Gisozi", "Gasabo", "Brooklyn")', None),
    ('has_ward("Gisozi", "Brooklyn", "Kigali")', None),
    ('has_ward("Brooklyn", "Gasabo", "Kigali")', None),
    ('has_ward("Gasabo")', None),
    ('has_ward("Gisozi")', "Rwanda > Kigali City > Gasabo > Gisozi"),
]

# (call, goflow's match): goflow's test table. ``null`` is its nil, ``1 / 0`` an error value.
TABLE_ROWS: list[tuple[str, str | None]] = [
    ('has_error("hello")', None),
    ("has_error(null)", None),
    ("has_error(1 / 0)", "division by zero"),
    ("has_error()", "ERROR"),
    ('has_text("hello")', "hello"),
    ('has_text("  ")', None),
    ("has_text(null)", None),
    ('has_text("one", "two")', "ERROR"),
    ("has_text(1 / 0)", "ERROR"),
    ('has_only_text("hello", "hello")', "hello"),
    ('has_only_text("hello-world", "hello-world")', "hello-world"),
    ('has_only_text("HELLO", "hello")', None),
    ('has_only_text("hello", 1 / 0)', "ERROR"),
    ('has_only_text(1 / 0, "hello")', "ERROR"),
    ('has_beginning("hello", "hell")', "hell"),
    ('has_beginning("  HelloThere", "hello")', "Hello"),
    ('has_beginning("one", "two", "three")', "ERROR"),
    ('has_beginning(null, "hell")', None),
    ('has_beginning("hello", null)', None),
    ('has_beginning("", "hello")', None),
    ('has_beginning("hel", "hello")', None),
    ("has_beginning(1 / 0, 1 / 0)", "ERROR"),
    ("has_beginning()", "ERROR"),
    ('has_any_word("this.is.my.word", "WORD word2 word")', "word"),
    ('has_any_word("this.is.my.βήτα", "βήτα")', "βήτα"),
    ('has_any_word("I say to you📴", "📴")', "📴"),
    ('has_any_word("this World too", "world")', "World"),
    ('has_any_word("I don\'t like it", "don\'t dont")', "don't"),
    ('has_any_word("BUT not this one", "world")', None),
    ('has_any_word("", "world")', None),
    ('has_any_word("world", "foo")', None),
    ('has_any_word("one", "two", "three")', "ERROR"),
    ('has_any_word("but foo", null)', None),
    ('has_any_word(null, "but foo")', None),
    ("has_any_word()", "ERROR"),
    ('has_all_words("this.is.my.word", "WORD word")', "word"),
    ('has_all_words("this World too", "world too")', "World too"),
    ('has_all_words("BUT not this one", "world")', None),
    ('has_all_words("one", "two", "three")', "ERROR"),
    ("has_all_words()", "ERROR"),
    ('has_phrase("you Must resist", "must resist")', "Must resist"),
    ('has_phrase("this world Too", "world too")', "world Too"),
    ('has_phrase("this world Too", "")', ""),
    ('has_phrase("this is not world", "this world")', None),
    ('has_phrase("one", "two", "three")', "ERROR"),
    ("has_phrase()", "ERROR"),
    ('has_only_phrase("Must resist", "must resist")', "Must resist"),
    ('has_only_phrase(" world Too ", "world too")', "world Too"),
    ('has_only_phrase("this world Too", "")', None),
    ('has_only_phrase("", "")', ""),
    ('has_only_phrase("this world is my world", "this world")', None),
    ('has_only_phrase("this world", "this mighty")', None),
    ('has_only_phrase("one", "two", "three")', "ERROR"),
    ("has_only_phrase()", "ERROR"),
    ('has_beginning("Must resist", "must resist")', "Must resist"),
    ('has_beginning(" 2061212", "206")', "206"),
    ('has_beginning(" world Too foo", "world too")', "world Too"),
    ('has_beginning("but this world", "this world")', None),
    ('has_pattern("<html>x</html>", "<\\\\w+>")', "<html>"),
    ('has_pattern("<html>x</html>", "HTML")', "html"),
    ('has_pattern("<html>x</html>", "(?-i)HTML")', None),
    ('has_pattern("12345", "\\\\A\\\\d{5}\\\\z")', "12345"),
    ('has_pattern("12345 ", "\\\\A\\\\d{5}\\\\z")', None),
    ('has_pattern(" 12345", "\\\\A\\\\d{5}\\\\z")', None),
    ('has_pattern("hi there 😀", "[\\U0001F600-\\U0001F64F]")', "😀"),
    ('has_pattern("hi there", "[\\U0001F600-\\U0001F64F]")', None),
    ('has_pattern("hi there 😂", "[😀-🙏]")', "😂"),
    ('has_pattern("<html>x</html>", "[")', "ERROR"),
    ("has_pattern()", "ERROR"),
    ('has_number("the number 10")', "10"),
    ('has_number("the number -10")', "-10"),
    ('has_number("1-15")', "1"),
    ('has_number("24ans")', "24"),
    ('has_number("J\'AI 20ANS")', "20"),
    ('has_number("1,000,000")', "1000000"),
    ('has_number("O número é 500")', "500"),
    ('has_number("another is -12.51")', "-12.51"),
    ('has_number("hi.51")', "51"),
    ('has_number("hi .51")', "0.51"),
    ('has_number(".51")', "0.51"),
    ('has_number("١٢٣٤")', "1234"),
    ('has_number("٠.٥")', "0.5"),
    ('has_number("nothing here")', None),
    ('has_number("lOO")', None),
    ('has_number("one", "two", "three")', "ERROR"),
    ("has_number()", "ERROR"),
    ('has_number_lt("the number 10", "11")', "10"),
    ('has_number_lt("another is -12.51", "12")', "-12.51"),
    ('has_number_lt("١٠", "11")', "10"),
    ('has_number_lt("nothing here", "12")', None),
    ('has_number_lt("too big 15", "12")', None),
    ('has_number_lt("one", "two", "three")', "ERROR"),
    ('has_number_lt("but foo", false)', "ERROR"),
    ('has_number_lt(null, "but foo")', "ERROR"),
    ("has_number_lt()", "ERROR"),
    ('has_number_lte("the number 10", "11")', "10"),
    ('has_number_lte("another is -12.51", "12")', "-12.51"),
    ('has_number_lte("١٠", "11")', "10"),
    ('has_number_lte("nothing here", "12")', None),
    ('has_number_lte("too big 15", "12")', None),
    ('has_number_lte("one", "two", "three")', "ERROR"),
    ("has_number_lte()", "ERROR"),
    ('has_number_eq("the number 10", "10")', "10"),
    ('has_number_eq("another is -12.51", "-12.51")', "-12.51"),
    ('has_number_eq("١٠", "10")', "10"),
    ('has_number_eq("nothing here", "12")', None),
    ('has_number_eq("wrong .51", ".61")', None),
    ('has_number_eq("one", "two", "three")', "ERROR"),
    ("has_number_eq()", "ERROR"),
    ('has_number_gte("the number 10", "9")', "10"),
    ('has_number_gte("another is -12.51", "-13")', "-12.51"),
    ('has_number_gte("١٠", "9")', "10"),
    ('has_number_gte("nothing here", "12")', None),
    ('has_number_gte("too small -12", "-11")', None),
    ('has_number_gte("one", "two", "three")', "ERROR"),
    ("has_number_gte()", "ERROR"),
    ('has_number_gt("the number 10", "9")', "10"),
    ('has_number_gt("another is -12.51", "-13")', "-12.51"),
    ('has_number_gt("١٠", "9")', "10"),
    ('has_number_gt("nothing here", "12")', None),
    ('has_number_gt("not great -12.51", "-12.51")', None),
    ('has_number_gt("one", "two", "three")', "ERROR"),
    ("has_number_gt()", "ERROR"),
    ('has_number_between("the number 10", "8", "12")', "10"),
    ('has_number_between("24ans", 20, 24)', "24"),
    ('has_number_between("another is -12.51", "-12.51", "-10")', "-12.51"),
    ('has_number_between("١٠", "8", "12")', "10"),
    ('has_number_between("nothing here", "10", "15")', None),
    ('has_number_between("one", "two")', "ERROR"),
    ('has_number_between("but foo", null, "10")', "ERROR"),
    ('has_number_between(null, "but foo", "10")', "ERROR"),
    ('has_number_between("a string", "10", "not number")', "ERROR"),
    ("has_number_between()", "ERROR"),
    ('has_date("last date was 1.10.2017")', "2017-10-01T15:24:30.123456+02:00"),
    ('has_date("last date was 1.10.99")', "1999-10-01T15:24:30.123456+02:00"),
    ('has_date("this isn\'t a valid date 33.2.99")', None),
    ('has_date("no date at all")', None),
    ('has_date("too", "many", "args")', "ERROR"),
    ("has_date()", "ERROR"),
    ('has_date_lt("last date was 1.10.2017", "3.10.2017")', "2017-10-01T15:24:30.123456+02:00"),
    ('has_date_lt("last date was 1.10.99", "3.10.98")', None),
    ('has_date_lt("no date at all", "3.10.98")', None),
    ('has_date_lt("too", "many", "args")', "ERROR"),
    ('has_date_lt("last date was 1.10.2017", null)', "ERROR"),
    ('has_date_lt(null, "but foo")', "ERROR"),
    ("has_date_lt()", "ERROR"),
    ('has_date_eq("last date was 1.10.2017", "1.10.2017")', "2017-10-01T15:24:30.123456+02:00"),
    ('has_date_eq("last date was 1.10.99", "3.10.98")', None),
    (
        'has_date_eq("2017-10-01T23:55:55.123456+02:00", "1.10.2017")',
        "2017-10-01T23:55:55.123456+02:00",
    ),
    ('has_date_eq("2017-10-01T23:55:55.123456+01:00", "1.10.2017")', None),
    ('has_date_eq("no date at all", "3.10.98")', None),
    ('has_date_eq("too", "many", "args")', "ERROR"),
    ("has_date_eq()", "ERROR"),
    ('has_date_gt("last date was 1.10.2017", "3.10.2016")', "2017-10-01T15:24:30.123456+02:00"),
    ('has_date_gt("last date was 1.10.99", "3.10.01")', None),
    ('has_date_gt("no date at all", "3.10.98")', None),
    ('has_date_gt("too", "many", "args")', "ERROR"),
    ("has_date_gt()", "ERROR"),
    ('has_time("last time was 10:30")', "10:30:00.000000"),
    ('has_time("this isn\'t a valid time 59:77")', None),
    ('has_time("no time at all")', None),
    ('has_time("too", "many", "args")', "ERROR"),
    ("has_time()", "ERROR"),
    ('has_email("my email is foo@bar.com.")', "foo@bar.com"),
    ('has_email("my email is <foo~$1+spam@bar-2.com>")', "foo~$1+spam@bar-2.com"),
    ('has_email("FOO@bar.whatzit")', "FOO@bar.whatzit"),
    ('has_email("FOO@βήτα.whatzit")', "FOO@βήτα.whatzit"),
    ('has_email("email is foo @ bar . com")', None),
    ('has_email("email is foo@bar")', None),
    ("has_email(null)", None),
    ('has_email("too", "many", "args")', "ERROR"),
    ("has_email()", "ERROR"),
    ('has_phone("my number is 0788123123", "RW")', "+250788123123"),
    ('has_phone("my number is none of your business", "US")', None),
    ("has_phone(1 / 0)", "ERROR"),
    ('has_phone("3245", 1 / 0)', "ERROR"),
    ('has_phone("number", null)', None),
    ('has_phone("too", "many", "args")', "ERROR"),
    ("has_phone()", "ERROR"),
    (
        f"has_group(parse_json('{GROUPS}'), \"group-uuid-2\")",
        "{name: Customers, uuid: group-uuid-2}",
    ),
    ('has_group(array(1 / 0), "group-uuid-2")', "ERROR"),
    ('has_group(array(), "group-uuid-1")', None),
    ('has_group(1 / 0, "group-uuid-1")', "ERROR"),
    ("has_group(array(), 1 / 0)", "ERROR"),
    ("has_group()", "ERROR"),
    ('has_state("kigali city")', "Rwanda > Kigali City"),
    ('has_state("kigari")', "Rwanda > Kigali City"),
    ('has_state("تروو")', "Rwanda > Paktika"),
    ('has_state("غم ځپلې هلمند")', None),
    (
        'has_state("\\u063a\\u0645 \\u0681\\u067e\\u0644\\u06d0 '
        '\\u0647\\u0644\\u0645\\u0646\\u062f")',
        None,
    ),
    ('has_state("xyz")', None),
    ("has_state(1 / 0)", "ERROR"),
    ('has_district("Gasabo", "kigali")', "Rwanda > Kigali City > Gasabo"),
    ('has_district("I live in gasabo", "kigali")', "Rwanda > Kigali City > Gasabo"),
    ('has_district("Gasabo")', "Rwanda > Kigali City > Gasabo"),
    ('has_district("xyz", "kigali")', None),
    ("has_district(1 / 0)", "ERROR"),
    ('has_ward("Gisozi", "Gasabo", "kigali")', "Rwanda > Kigali City > Gasabo > Gisozi"),
    ('has_ward("I live in gisozi", "Gasabo", "kigali")', "Rwanda > Kigali City > Gasabo > Gisozi"),
    ('has_ward("Gisozi")', "Rwanda > Kigali City > Gasabo > Gisozi"),
    ('has_ward("xyz", "Gasabo", "kigali")', None),
    ("has_ward(1 / 0)", "ERROR"),
    (f'has_category(parse_json(\'{RESULT % "Other"}\'), "Chicken", "Other")', "Other"),
    (f"has_category(parse_json('{RESULT % 'All Responses'}'), \"Chicken\")", None),
    ("has_category(parse_json('{}'), \"Chicken\")", "ERROR"),
    (f"has_intent(parse_json('{INTENTS}'), \"book_hotel\", 0.2)", "book_hotel"),
    ("has_intent(parse_json('{}'), \"book_flight\", 0.5)", "ERROR"),
    ("has_intent()", "ERROR"),
    (f"has_top_intent(parse_json('{INTENTS}'), \"book_flight\", 0.5)", "book_flight"),
    (f"has_top_intent(parse_json('{INTENTS}'), \"book_flight\", 0.8)", None),
    ("has_top_intent(parse_json('{}'), \"book_flight\", 0.5)", "ERROR"),
    ("has_top_intent()", "ERROR"),
    # goflow's has_error templates (TestEvaluateTemplate): "" is no match there.
    ("has_error(array1[100])", "index 100 out of range for 3 items"),
    (
        'has_error(round("foo", "bar"))',
        'error calling ROUND: unable to convert "foo" to a number',
    ),
    ("has_error(thing.foo)", None),
    ("has_error(thing.xxx)", "object has no property 'xxx'"),
]

# goflow's phone table (TestHasPhone): "my number is " + number, the country if given (else the
# environment's, RW), the E.164 number or None.
PHONES: list[tuple[str, str, str | None]] = [
    ("+250788123123", "", "+250788123123"),
    ("u812111005611", "ID", "+62812111005611"),
    ("oioas812111", "US", None),
    ("+593979111111", "", "+593979111111"),
    ("0788123123", "", "+250788123123"),
    ("0788123123", "RW", "+250788123123"),
    ("+250788123123", "RW", "+250788123123"),
    ("+12065551212", "RW", "+12065551212"),
    ("12065551212", "US", "+12065551212"),
    ("206 555 1212", "US", "+12065551212"),
    ("+10001112222", "US", "+10001112222"),
    ("0815 1053 7962", "ID", "+6281510537962"),
    ("0954 1053 7962", "ID", "+6295410537962"),
    ("0811-1005-611", "ID", "+628111005611"),
    ("10000", "US", None),
    ("12067799294", "BW", None),
]
PHONE_ROWS = [
    (f'has_phone("my number is {number}"{f", {chr(34)}{country}{chr(34)}" if country else ""})', e)
    for number, country, e in PHONES
]

ROWS: list[tuple[str, str, str | None]] = [
    *(("docs", call, expected) for call, expected in DOCUMENTED),
    *(("table", call, expected) for call, expected in TABLE_ROWS),
    *(("phones", call, expected) for call, expected in PHONE_ROWS),
]

KINDS = {
    "text": {
        "has_any_word",
        "has_all_words",
        "has_phrase",
        "has_only_phrase",
        "has_only_text",
        "has_beginning",
        "has_text",
        "has_pattern",
    },
    "numbers": {
        "has_number",
        "has_number_between",
        "has_number_eq",
        "has_number_lt",
        "has_number_lte",
        "has_number_gt",
        "has_number_gte",
    },
    "dates and times": {"has_date", "has_date_eq", "has_date_lt", "has_date_gt", "has_time"},
    "phones and e-mail": {"has_phone", "has_email"},
    "locations": {"has_state", "has_district", "has_ward"},
    "groups, categories, errors, intents": {
        "has_group",
        "has_category",
        "has_error",
        "has_intent",
        "has_top_intent",
    },
}

_OWN_WORDS = "Sutra's error messages are its own words (the warning a run gets says the same)"
_TRIMMED = "a router's operand is trimmed before any case sees it, so a space never decides"
_GROUP = "the value stored is the group's name, not goflow's group object"

# Rows Sutra answers otherwise on purpose: (source, call) -> (Sutra's answer, why).
DIFFERENCES: dict[tuple[str, str], tuple[str | None, str]] = {
    ("docs", 'has_error(datetime("foo"))'): (
        "error calling datetime: 'foo' is not a date",
        _OWN_WORDS,
    ),
    ("docs", "has_error(run.not.existing)"): ("run.not.existing is not defined", _OWN_WORDS),
    ("docs", "has_error(contact.fields.unset)"): (
        "contact.fields.unset is not defined",
        _OWN_WORDS,
    ),
    ("table", 'has_error(round("foo", "bar"))'): (
        "error calling round: 'foo' is not a number",
        _OWN_WORDS,
    ),
    ("table", "has_error(thing.xxx)"): ("thing.xxx is not defined", _OWN_WORDS),
    ("docs", 'has_group(contact.groups, "b7cf0d83-f1c9-411c-96fd-c511a4cfa86d")'): (
        "Testers",
        _GROUP,
    ),
    ("table", f"has_group(parse_json('{GROUPS}'), \"group-uuid-2\")"): ("Customers", _GROUP),
    ("table", 'has_pattern("12345 ", "\\\\A\\\\d{5}\\\\z")'): ("12345", _TRIMMED),
    ("table", 'has_pattern(" 12345", "\\\\A\\\\d{5}\\\\z")'): ("12345", _TRIMMED),
    ("table", 'has_text("one", "two")'): (
        "one",
        "a case's extra arguments are ignored; goflow's test is an error (no editor writes them)",
    ),
}


class _Case(Function):
    """A case test callable from an expression, answering as Sutra's router would."""

    def __init__(self, name: str, setting: Setting) -> None:
        self.name, self.setting = name, setting

    def invoke(self, ev: Evaluation, args: list[Any]) -> Any:
        if not args:
            # A router always has an operand; goflow's call without one is an error.
            return {"outcome": "ERROR"}
        operand, *rest = args
        text = "" if isinstance(operand, ErrorValue) else render(operand).strip()
        # A case's arguments are templates: one that fails renders as nothing.
        arguments = ["" if isinstance(a, ErrorValue) else render(a) for a in rest]
        case = CaseInput(text=text, value=operand, now=self.setting.now, env=self.setting.env)
        try:
            match = CASE_TESTS[self.name](case, arguments)
        except CaseError:
            return {"outcome": "ERROR"}
        return {"outcome": "match" if match else "none", "value": match.value if match else None}


def answer(source: str, call: str) -> str | None:
    """Sutra's answer to a row: the value it extracts, None, or ERROR."""
    setting = {"docs": DOCS, "table": TABLE, "phones": TABLE}[source]
    context = {**setting.context, "cases": {n: _Case(n, setting) for n in CASE_TESTS}}
    outcome = evaluate_value(f"@(cases.{call})", context, env=setting.expression_env)
    if not isinstance(outcome, Mapping):
        return "ERROR"
    if outcome["outcome"] == "match":
        return str(outcome["value"])
    return "ERROR" if outcome["outcome"] == "ERROR" else None


def case_name(call: str) -> str:
    return call.split("(", 1)[0]


def agrees_on_category(got: str | None, expected: str | None) -> bool:
    # A case that errors does not match, in goflow's router as in Sutra's.
    return (got not in (None, "ERROR")) == (expected not in (None, "ERROR"))


def figures() -> dict[str, tuple[int, int, int, int]]:
    """Per kind: (rows agreeing on the category, rows, matches agreeing on the value,
    matches)."""
    found: dict[str, list[int]] = {kind: [0, 0, 0, 0] for kind in KINDS}
    for source, call, expected in ROWS:
        kind = next(k for k, names in KINDS.items() if case_name(call) in names)
        got = answer(source, call)
        counts = found[kind]
        counts[0] += agrees_on_category(got, expected)
        counts[1] += 1
        if expected not in (None, "ERROR"):
            counts[2] += got == expected
            counts[3] += 1
    return {kind: (a, b, c, d) for kind, (a, b, c, d) in found.items()}


@pytest.mark.parametrize(("source", "call", "expected"), ROWS)
def test_goflow_case_row(source: str, call: str, expected: str | None) -> None:
    if (source, call) in DIFFERENCES:
        expected = DIFFERENCES[source, call][0]
    got = answer(source, call)
    assert agrees_on_category(got, expected), (got, expected)
    if expected not in (None, "ERROR"):
        assert got == expected


def test_every_difference_is_a_row() -> None:
    keys = {(source, call) for source, call, _ in ROWS}
    assert set(DIFFERENCES) <= keys


def test_agreement_figures() -> None:
    """The figures docs/compatibility.md quotes, per kind: (rows where the category agrees,
    rows, matches whose stored value agrees, matches)."""
    assert figures() == {
        "text": (84, 87, 37, 37),
        "numbers": (90, 90, 39, 39),
        "dates and times": (47, 47, 15, 15),
        "phones and e-mail": (39, 39, 23, 23),
        "locations": (32, 32, 18, 18),
        "groups, categories, errors, intents": (30, 30, 5, 12),
    }
    disagreeing = [
        (source, call)
        for source, call, expected in ROWS
        if not agrees_on_category(answer(source, call), expected)
        or (expected not in (None, "ERROR") and answer(source, call) != expected)
    ]
    assert sorted(disagreeing) == sorted(DIFFERENCES)
