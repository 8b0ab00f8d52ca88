"""The ADF expression language: parsing, every supported function, interpolation, escapes and errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from company_activity_local.pipeline import dotnet
from company_activity_local.pipeline.expressions import (
    FUNCTIONS,
    EvalContext,
    ExpressionError,
    Literal,
    evaluate,
    find_expressions,
    is_expression,
    parse,
    referenced_activities,
    referenced_parameters,
)

NOW = datetime(2024, 3, 2, 1, 2, 3, 456789, tzinfo=UTC)


@pytest.fixture()
def ctx() -> EvalContext:
    return EvalContext(
        pipeline_name="PL_test",
        run_id="run-42",
        parameters={"runDate": "2024-03-01", "n": 42, "f": 1.5, "flag": True, "obj": {"a": [1, {"b": "x"}]},
                    "nothing": None},
        trigger={"name": "TR_test", "type": "TumblingWindowTrigger",
                 "outputs": {"windowStartTime": "2024-03-01T00:00:00Z", "windowEndTime": "2024-03-02T00:00:00Z"}},
        activities={
            "Copy": {"status": "Failed", "output": {"rowsCopied": 3},
                     "error": {"message": "boom", "errorCode": "2200"}},
            "Skipped one": {"status": "Skipped"},
            "Lookup": {"status": "Succeeded", "output": {"firstRow": {"run_id": "r1", "record_count": 7}}},
        },
        now=NOW,
        factory_name="adf-test",
        global_parameters={"container": "bronze"},
        variables={"v": "value"},
    )


def ev(text: Any, ctx: EvalContext) -> Any:
    return evaluate(text, ctx)


# ------------------------------------------------------------------------------------ values


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    (" @x", " @x"),  # an @ not at the start and not followed by { is literal
    ("user@example.com", "user@example.com"),
    ("@@", "@"),
    ("@@pipeline()", "@pipeline()"),
    ("@pipeline().parameters.n", 42),  # whole-value expressions keep their type
    ("@{pipeline().parameters.n}", "42"),  # interpolation always gives a string
    ("Answer is: @{pipeline().parameters.n}", "Answer is: 42"),
    ("Answer is: @@{pipeline().parameters.n}", "Answer is: @{pipeline().parameters.n}"),
    ("@{pipeline().parameters.flag}/@{pipeline().parameters.f}", "True/1.5"),
    ("x@{pipeline().parameters.nothing}y", "xy"),
    ("@{pipeline().parameters.obj}", '{"a":[1,{"b":"x"}]}'),
    ("@{concat('}', '{')}", "}{"),  # braces inside string literals do not end the interpolation
    ("@concat('Baba', '''s ', 'book store')", "Baba's book store"),
    ("@true", True),
    ("@null", None),
    ("@-1.5", -1.5),
    ("@createArray(1, 'a', false)", [1, "a", False]),
])
def test_values_and_interpolation(text: str, expected: Any, ctx: EvalContext) -> None:
    assert ev(text, ctx) == expected


def test_expression_objects_and_recursion(ctx: EvalContext) -> None:
    value = {
        "a": {"value": "@pipeline().parameters.n", "type": "Expression"},
        "b": ["@{pipeline().RunId}", {"c": "@pipeline().Pipeline"}, 3, None],
        "secure": {"type": "SecureString", "value": "literal"},
    }
    assert ev(value, ctx) == {"a": 42, "b": ["run-42", {"c": "PL_test"}, 3, None],
                              "secure": {"type": "SecureString", "value": "literal"}}


def test_property_access_forms(ctx: EvalContext) -> None:
    assert ev("@pipeline().parameters.obj.a[1].b", ctx) == "x"
    assert ev("@pipeline()['parameters']['obj']['a'][0]", ctx) == 1
    assert ev("@PIPELINE().Parameters.RUNDATE", ctx) == "2024-03-01"  # names are case-insensitive
    assert ev("@pipeline().parameters.obj.a[sub(2, 1)].b", ctx) == "x"


def test_safe_navigation(ctx: EvalContext) -> None:
    assert ev("@pipeline()?.TriggeredByPipelineName", ctx) is None
    assert ev("@pipeline().parameters.obj.a?[5]", ctx) is None
    assert ev("@pipeline().parameters.nothing?.x", ctx) is None
    with pytest.raises(ExpressionError, match="property 'TriggeredByPipelineName' does not exist"):
        ev("@pipeline().TriggeredByPipelineName", ctx)
    # An activity that did not run has no Status, output or error in ADF: '?' does not make it readable.
    with pytest.raises(ExpressionError, match="activity 'Skipped one' did not run in this run"):
        ev("@activity('Skipped one')?.error?.message", ctx)


def test_pipeline_system_variables(ctx: EvalContext) -> None:
    assert ev("@pipeline().RunId", ctx) == "run-42"
    assert ev("@pipeline().Pipeline", ctx) == "PL_test"
    assert ev("@pipeline().DataFactory", ctx) == "adf-test"
    assert ev("@pipeline().TriggerName", ctx) == "TR_test"
    assert ev("@pipeline().TriggerType", ctx) == "TumblingWindowTrigger"
    assert ev("@pipeline().TriggerTime", ctx) == "2024-03-02T01:02:03.4567890Z"
    assert ev("@pipeline().globalParameters.container", ctx) == "bronze"


def test_the_clock_is_utc_even_when_naive() -> None:
    naive = EvalContext(
        pipeline_name="p", run_id="r", parameters={}, trigger={}, activities={}, now=datetime(2024, 3, 2, 1, 2, 3)
    )
    assert evaluate("@utcNow()", naive) == "2024-03-02T01:02:03.0000000Z"
    assert evaluate("@pipeline().TriggerTime", naive) == "2024-03-02T01:02:03.0000000Z"


def test_reference_functions(ctx: EvalContext) -> None:
    assert ev("@activity('Lookup').output.firstRow.run_id", ctx) == "r1"
    assert ev("@activity('Copy').error.message", ctx) == "boom"
    assert ev("@activity('Copy').Status", ctx) == "Failed"
    assert ev("@trigger().outputs.windowStartTime", ctx) == "2024-03-01T00:00:00Z"
    assert ev("@variables('v')", ctx) == "value"
    ctx.dataset_parameters = {"runDate": "2024-03-01"}
    ctx.linked_service_parameters = {"serviceEndpoint": "http://x"}
    ctx.item = {"name": "i"}
    assert ev("@dataset().runDate", ctx) == "2024-03-01"
    assert ev("@{linkedService().serviceEndpoint}", ctx) == "http://x"
    assert ev("@item().name", ctx) == "i"


@pytest.mark.parametrize(("text", "message"), [
    ("@activity('Nope').output", "activity 'Nope' has no result"),
    ("@dataset().x", r"dataset\(\) is only available inside a dataset"),
    ("@linkedService().x", r"linkedService\(\) is only available"),
    ("@item()", r"item\(\) is only available inside a ForEach"),
    ("@variables('w')", "variable 'w' is not declared"),
])
def test_reference_errors(text: str, message: str, ctx: EvalContext) -> None:
    with pytest.raises(ExpressionError, match=message):
        ev(text, ctx)


def test_trigger_outside_a_trigger(ctx: EvalContext) -> None:
    ctx.trigger = {}
    with pytest.raises(ExpressionError, match="not started by a trigger"):
        ev("@trigger().outputs", ctx)
    assert ev("@pipeline().TriggerName", ctx) == "Manual"


# --------------------------------------------------------------------------------- functions

FUNCTION_CASES: list[tuple[str, Any]] = [
    ("@concat('a', 1, true, null, 'b')", "a1Trueb"),
    ("@replace('a-b-c', '-', '/')", "a/b/c"),
    ("@split('a,b,,c', ',')", ["a", "b", "", "c"]),
    ("@substring('abcdef', 2, 3)", "cde"),
    ("@substring('abcdef', 4)", "ef"),
    ("@toLower('AbC')", "abc"),
    ("@toUpper('AbC')", "ABC"),
    ("@trim('  x ')", "x"),
    ("@startsWith('product_usage', 'product')", True),
    ("@endsWith('file.jsonl.gz', '.gz')", True),
    ("@indexOf('abcabc', 'c')", 2),
    ("@contains('hello', 'ell')", True),
    ("@contains(createArray(1, 2), 2)", True),
    ("@contains(json('{\"k\": 1}'), 'k')", True),
    ("@contains(createArray('1'), 1)", False),
    ("@empty('')", True),
    ("@empty(json('[]'))", True),
    ("@empty(pipeline().parameters.nothing)", True),
    ("@empty('x')", False),
    ("@length('abc')", 3),
    ("@length(createArray(1, 2))", 2),
    ("@first(createArray(7, 8))", 7),
    ("@first('xyz')", "x"),
    ("@last(createArray(7, 8))", 8),
    ("@last('xyz')", "z"),
    ("@first(json('[]'))", None),
    ("@join(createArray('a', 1), '|')", "a|1"),
    ("@skip(createArray(1, 2, 3), 1)", [2, 3]),
    ("@take(createArray(1, 2, 3), 2)", [1, 2]),
    ("@array('x')", ["x"]),
    ("@createArray(createArray(1))", [[1]]),
    ("@if(equals(1, 1), 'yes', 'no')", "yes"),
    ("@if(false, 'yes', 'no')", "no"),
    ("@equals('a', 'a')", True),
    ("@equals('a', 'A')", False),
    ("@equals(1, 1.0)", True),
    ("@equals(1, '1')", False),
    ("@equals(true, 1)", False),
    ("@equals(null, null)", True),
    ("@not(false)", True),
    ("@and(true, true, false)", False),
    ("@and(true, true)", True),
    ("@or(false, true)", True),
    ("@or(false, false)", False),
    ("@greater(2, 1.5)", True),
    ("@greater('b', 'a')", True),
    ("@greaterOrEquals(2, 2)", True),
    ("@less(1, 2)", True),
    ("@lessOrEquals(3, 2)", False),
    ("@coalesce(null, null, 'x', 'y')", "x"),
    ("@coalesce(null)", None),
    ("@json('{\"a\": [1, 2.5, null, true]}')", {"a": [1, 2.5, None, True]}),
    ("@string(1.0)", "1"),
    ("@string(2.5)", "2.5"),
    ("@string(false)", "False"),
    ("@string(json('{\"a\": \"é\"}'))", '{"a":"é"}'),
    ("@int('-12')", -12),
    ("@int(5)", 5),
    ("@float('1.25')", 1.25),
    ("@float(2)", 2.0),
    ("@bool('TRUE')", True),
    ("@bool(0)", False),
    ("@bool(false)", False),
    ("@uriComponent('a b/c?d')", "a%20b%2Fc%3Fd"),
    ("@encodeUriComponent('x&y')", "x%26y"),
    ("@uriComponentToString('a%20b')", "a b"),
    ("@decodeUriComponent('%2F')", "/"),
    ("@add(1, 2)", 3),
    ("@add(1, 1.5)", 2.5),
    ("@sub(1, 3)", -2),
    ("@mul(2, 3)", 6),
    ("@div(7, 2)", 3),
    ("@div(-7, 2)", -3),
    ("@div(7.0, 2)", 3.5),
    ("@mod(7, 3)", 1),
    ("@min(3, 1, 2)", 1),
    ("@max(createArray(3, 9, 2))", 9),
    ("@utcNow()", "2024-03-02T01:02:03.4567890Z"),
    ("@utcNow('yyyy-MM-dd')", "2024-03-02"),
    ("@formatDateTime('2024-03-01T00:00:00Z', 'yyyy-MM-dd')", "2024-03-01"),
    ("@formatDateTime('2024-03-01')", "2024-03-01T00:00:00.0000000"),  # no zone in, no zone out
    ("@addDays('2018-03-15T13:00:00Z', 10)", "2018-03-25T13:00:00.0000000Z"),
    ("@addDays('2024-03-01', -1, 'yyyy-MM-dd')", "2024-02-29"),
    ("@addHours('2018-03-15T15:00:00Z', -5)", "2018-03-15T10:00:00.0000000Z"),
    ("@addMinutes('2018-03-15T00:10:00Z', 10)", "2018-03-15T00:20:00.0000000Z"),
    ("@addSeconds('2018-03-15T00:00:30Z', -5)", "2018-03-15T00:00:25.0000000Z"),
    ("@addToTime('2018-01-31T00:00:00Z', 1, 'Month', 'yyyy-MM-dd')", "2018-02-28"),  # AddMonths clamps the day
    ("@addToTime('2018-01-01T00:00:00Z', 1, 'Day')", "2018-01-02T00:00:00.0000000Z"),
    ("@addToTime('2018-01-15T00:00:00Z', 2, 'week', 'yyyy-MM-dd')", "2018-01-29"),
    ("@addToTime('2018-11-15T00:00:00Z', 3, 'Month', 'yyyy-MM-dd')", "2019-02-15"),
    ("@startOfDay('2018-03-15T13:30:30Z')", "2018-03-15T00:00:00.0000000Z"),
    ("@startOfHour('2018-03-15T13:30:30Z')", "2018-03-15T13:00:00.0000000Z"),
    ("@startOfMonth('2018-03-15T13:30:30Z', 'yyyy-MM-dd')", "2018-03-01"),
    ("@dayOfWeek('2024-03-03')", 0),  # a Sunday
    ("@dayOfMonth('2024-03-03')", 3),
    ("@range(0, 3)", [0, 1, 2]),
    ("@range(5, 0)", []),
    ("@ticks('2026-01-01T00:00:00Z')", 639028224000000000),  # DateTime(2026, 1, 1).Ticks in .NET
    ("@div(sub(ticks('2024-03-01'), ticks('2024-02-28')), 864000000000)", 2),  # whole days, leap year
]


@pytest.mark.parametrize(("text", "expected"), FUNCTION_CASES, ids=[case[0] for case in FUNCTION_CASES])
def test_functions(text: str, expected: Any, ctx: EvalContext) -> None:
    assert ev(text, ctx) == expected


# Answers of Microsoft's engine (data-factory-testing-framework 1.4.4, checked in test_engine_differential.py
# when Mono is installed), pinned here so that every run checks them. ERROR: the engine refuses too.
ERROR = object()
ENGINE_ANSWERS = [
    ("@formatDateTime('2026-03-01')", "2026-03-01T00:00:00.0000000"),
    ("@addDays('2026-03-01', -1)", "2026-02-28T00:00:00.0000000"),
    ("@formatDateTime('2026-03-01T10:20:30.1234567Z', 'o')", "2026-03-01T10:20:30.1234567Z"),
    ("@ticks('9999-12-31T23:59:59.9999999Z')", 3155378975999999999),
    ("@startsWith('Hello', 'he')", True),
    ("@endsWith('hello', 'LO')", True),
    ("@indexOf('hello', 'L')", 2),
    ("@toUpper('straße')", "STRAßE"),
    ("@string(1e21)", "1E+21"),
    ("@string(json('{\"a\": 1e15, \"b\": 1e14}'))", '{"a":1E+15,"b":100000000000000.0}'),
    ("@contains(createArray(1.0), 1)", False),
    ("@contains(json('{\"Key\": 1}'), 'key')", True),
    ("@equals(1, 1.0)", True),
    ("@equals(createArray(1), createArray(1.0))", False),
    ("@greater('B', 'a')", True),
    ("@less('A', 'a')", False),
    ("@greater('aB', 'ab')", True),
    ("@min(1, 2.5)", 1.0),
    ("@max(createArray(3, 1, 2))", 3),
    ("@array(createArray(1))", [1]),
    ("@div(-9223372036854775807, -1)", 9223372036854775807),
    ("@mod(9007199254740993, 10)", 3),
    ("@uriComponentToString('a+b%20c')", "a b c"),
    ("@trim('\u00a0x\u2003')", "x"),
    ("@if(true, 1, div(1, 0))", 1),
    ("@coalesce('a', div(1, 0))", "a"),
    ("@and(false, div(1, 0))", False),
    ("@substring('hello', 5)", ERROR),
    ("@skip(createArray(1), -1)", ERROR),
    ("@take(createArray(1), -1)", ERROR),
    ("@add(9223372036854775807, 1)", ERROR),
    ("@range(0, 100001)", ERROR),
    ("@range(2147483647, 2)", ERROR),
    ("@int('99999999999999999999')", ERROR),
    ("@int('\u0663')", ERROR),
    ("@float('1e400')", ERROR),
    ("@formatDateTime('2026-03-01', '%%')", ERROR),
    ("@first(json('[]'))", None),
]


@pytest.mark.parametrize(("text", "expected"), ENGINE_ANSWERS, ids=[case[0] for case in ENGINE_ANSWERS])
def test_what_microsofts_engine_answers(text: str, expected: Any, ctx: EvalContext) -> None:
    if expected is ERROR:
        with pytest.raises(ExpressionError):
            ev(text, ctx)
        return
    got = ev(text, ctx)
    assert got == expected and type(got) is type(expected)


def test_every_registered_function_has_a_case() -> None:
    tested = {name.lower() for case, _ in FUNCTION_CASES for name in FUNCTIONS if f"@{name}(" in case.lower()}
    references = {"pipeline", "activity", "dataset", "linkedservice", "trigger", "item", "variables"}
    assert set(FUNCTIONS) - tested - references == set()


def test_function_names_are_case_insensitive(ctx: EvalContext) -> None:
    assert ev("@CONCAT('a', toupper('b'))", ctx) == "aB"


@pytest.mark.parametrize(("text", "message"), [
    ("@if(1, 'a', 'b')", "function 'if' argument 1 must be boolean, got integer 1"),
    ("@range(0, -1)", "function 'range': count must be >= 0, got -1"),
    ("@and(true, 'x')", "function 'and' argument 2 must be boolean"),
    ("@not('true')", "function 'not' argument 1 must be boolean"),
    ("@int('1.5')", "cannot convert '1.5' to an integer"),
    ("@float('abc')", "cannot convert 'abc' to a number"),
    ("@bool('yes')", "cannot convert 'yes' to a boolean"),
    ("@json('{bad')", "function 'json' cannot parse"),
    ("@substring('abc', 2, 5)", "outside the string of length 3"),
    ("@replace('abc', '', 'x')", "argument 2 must not be empty"),
    ("@greater(1, 'a')", "compares two numbers or two strings"),
    ("@div(1, 0)", "cannot divide by zero"),
    ("@length(5)", "function 'length' argument 1 must be string or array"),
    ("@formatDateTime('yesterday')", "cannot read 'yesterday' as an ISO 8601 timestamp"),
    ("@formatDateTime('2024-02-30')", "not a valid timestamp"),
    ("@formatDateTime('2024-02-03', 'ffffffff')", "'ffffffff' in date format 'ffffffff': at most 7 fraction digits"),
    ("@formatDateTime('2024-02-03', 'U')", "'U' is not a standard date format"),
    ("@formatDateTime('2024-02-03T01:00:00+02:00')", "has a UTC offset"),
    ("@formatDateTime('2024-02-03T01:00:00Z', 'zzz')", "the 'z' specifier"),
    ("@addDays('2024-02-03', '1')", "function 'addDays' argument 2 must be integer"),
    ("@addToTime('2024-02-03', 1, 'Fortnight')", "unknown time unit 'Fortnight'"),
    ("@pipeline().parameters.obj.a[9]", "index 9 is out of range for an array of length 2"),
    ("@pipeline().parameters.obj.a['x']", "an array index must be an integer"),
    ("@pipeline().parameters.n.x", "cannot read 'x' of a integer value"),
    ("@pipeline().parameters.missing", "property 'missing' does not exist .*available properties: f, flag, n"),
])
def test_evaluation_errors(text: str, message: str, ctx: EvalContext) -> None:
    with pytest.raises(ExpressionError, match=message) as caught:
        ev(text, ctx)
    assert text in str(caught.value)  # the message names the expression


@pytest.mark.parametrize(("text", "message", "position", "function"), [
    ("@foo(1)", "unsupported function 'foo'", 1, "foo"),
    ("@concat('a', bogusFn())", "unsupported function 'bogusFn'", 13, "bogusFn"),
    ("@concat('a'", r"expected '\)', found end of expression", 11, None),
    ("@concat('a)", "unterminated string literal", 8, None),
    ("@pipeline().", "expected a property name after '.'", 12, None),
    ("@pipeline()?x", r"expected '\.' or '\[' after '\?'", 12, None),
    ("@pipeline", "'pipeline' is not a function call", 1, None),
    ("@equals(1)", "function 'equals' takes 2 arguments, got 1", 1, "equals"),
    ("@if(true, 1)", "function 'if' takes 3 arguments, got 2", 1, "if"),
    ("@concat()", "function 'concat' takes 1 or more arguments, got 0", 1, "concat"),
    ("@utcNow('a', 'b')", "function 'utcNow' takes 0 to 1 arguments, got 2", 1, "utcNow"),
    ("@pipeline() x", "unexpected 'x' after the end", 12, None),
    ("@", "expected a value, found end of expression", 1, None),
    ("@[1, 2][1]", "array literals are not part of ADF's expression language", 1, None),
    ("@null?.a", "unexpected '\\?' after the end of the expression", 5, None),
    ("@'abc'[0]", "unexpected '\\[' after the end of the expression", 6, None),
    ("@99999999999999999999", "outside the 64-bit range", 1, None),
    ("a @{pipeline().RunId", "unterminated '@{' interpolation", 2, None),
    ("a @{pipeline(} b", r"expected a value", 13, None),
])
def test_parse_errors(text: str, message: str, position: int, function: str | None) -> None:
    with pytest.raises(ExpressionError, match=message) as caught:
        parse(text)
    assert caught.value.expression == text
    assert caught.value.position == position
    assert caught.value.function == function


def test_parse_kinds() -> None:
    assert isinstance(parse("literal"), Literal)
    assert isinstance(parse("@@x"), Literal)
    assert is_expression("@pipeline().RunId")
    assert is_expression({"value": "plain", "type": "Expression"})
    assert not is_expression("a @ b")


def test_introspection_helpers() -> None:
    text = ("@concat(pipeline().parameters.a, pipeline()?.parameters['b'], pipeline().globalParameters.g, "
            "activity('X').output, activity('Y')?.error?.message)")
    assert referenced_parameters(text) == {"a", "b"}
    assert referenced_parameters(text, "globalParameters") == {"g"}
    assert referenced_parameters("@concat(dataset().p, linkedService().q)", "dataset") == {"p"}
    assert referenced_parameters("@{linkedService().q}", "linkedService") == {"q"}
    assert referenced_activities(text) == {"X", "Y"}
    found = dict(find_expressions({"a": ["x", "@y()"], "b": {"value": "z@{q()}", "type": "Expression"},
                                   "c": "@@literal", "skip": "@no()"}, skip_keys=frozenset({"skip"})))
    assert found == {"$.a[1]": "@y()", "$.b.value": "z@{q()}"}


# -------------------------------------------------------------------------------- timestamps


MOMENT = dotnet.DateTime.from_datetime(datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)).add_ticks(7)


@pytest.mark.parametrize(("fmt", "expected"), [
    ("o", "2024-01-02T03:04:05.1234567Z"),
    ("", "01/02/2024 03:04:05"),  # an empty format is "G", as in .NET
    ("s", "2024-01-02T03:04:05"),
    ("u", "2024-01-02 03:04:05Z"),
    ("d", "01/02/2024"),
    ("D", "Tuesday, 02 January 2024"),
    ("f", "Tuesday, 02 January 2024 03:04"),
    ("yyyy-MM-ddTHH:mm:ss.fff", "2024-01-02T03:04:05.123"),
    ("yyyyMMdd'T'HHmm", "20240102T0304"),
    ("yy M d h:m:s tt", "24 1 2 3:4:5 AM"),
    ("ddd MMM dd", "Tue Jan 02"),
    ("FFFFFFF", "1234567"),
    ("%d", "2"),
    ("HH\\h", "03h"),
    ("K KK", "Z ZZ"),
    ("yyyy-MM-dd Q", "2024-01-02 Q"),  # letters that are not specifiers are copied
])
def test_format_datetime(fmt: str, expected: str) -> None:
    assert dotnet.format_datetime(MOMENT, fmt) == expected


def test_an_empty_f_fraction_drops_its_decimal_point() -> None:
    whole = dotnet.parse_datetime("2024-01-02T03:04:05Z")
    assert dotnet.format_datetime(whole, "HH:mm:ss.FFF") == "03:04:05"
    assert dotnet.format_datetime(whole, "ss,FFF") == "05,"


@pytest.mark.parametrize("fmt", ["%", "%%", "y%", "a\\", "'open", "zzz", "ffffffff", "U", "x"])
def test_bad_date_formats_are_errors(fmt: str) -> None:
    with pytest.raises(ValueError):
        dotnet.format_datetime(MOMENT, fmt)


def test_timestamps_keep_their_kind_and_100_ns() -> None:
    utc = dotnet.parse_datetime("2024-01-02T01:00:00.1234567Z")
    assert utc.utc and utc.fraction == 1_234_567
    local = dotnet.parse_datetime(" 2024-01-02 01:00 ")
    assert not local.utc and dotnet.format_datetime(local, "o") == "2024-01-02T01:00:00.0000000"
    assert dotnet.parse_datetime("2024-01-02Z").utc
    with pytest.raises(ValueError, match="has a UTC offset"):
        dotnet.parse_datetime("2024-01-02T01:00:00+02:00")
    with pytest.raises(ValueError, match=r"outside the range of \.NET DateTime"):
        utc.add_ticks(-utc.ticks - 1)


def test_add_months_clamps_to_the_month_end() -> None:
    assert dotnet.format_datetime(dotnet.parse_datetime("2024-01-31").add_months(1), "yyyy-MM-dd") == "2024-02-29"
    assert dotnet.format_datetime(dotnet.parse_datetime("2024-02-29").add_months(12), "yyyy-MM-dd") == "2025-02-28"


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (1.5, "1.5"), (1e15, "1E+15"), (1e14, "100000000000000"), (0.0001, "0.0001"), (0.00001, "1E-05"),
    (1.5e300, "1.5E+300"), (-1.5e-10, "-1.5E-10"), (123456789012345.0, "123456789012345"),
])
def test_double_text(value: float, text: str) -> None:
    assert dotnet.format_double(value) == text


@pytest.mark.parametrize("value", [0.1 + 0.2, 1 / 3, -0.0, float("inf"), float("nan")])
def test_double_text_that_depends_on_the_runtime_is_refused(value: float) -> None:
    with pytest.raises(ValueError):
        dotnet.format_double(value)


def test_json_text_is_newtonsofts() -> None:
    assert dotnet.json_text({"a": [1, 1.0, 1e15, "\u2028\n\x01\x7f", None, True]}) == \
        '{"a":[1,1.0,1E+15,"\\u2028\\n\\u0001\x7f",null,true]}'


# ---------------------------------------------------------------------------------- properties


@given(st.text())
def test_any_text_survives_a_quoted_string_literal(text: str) -> None:
    quoted = "@'" + text.replace("'", "''") + "'"
    assert (
        evaluate(quoted, EvalContext(pipeline_name="p", run_id="r", parameters={}, trigger={}, activities={})) == text
    )


@given(st.text().filter(lambda t: "@" not in t))
def test_text_without_at_signs_is_a_literal(text: str) -> None:
    assert parse(text) == Literal(0, text)


@given(st.integers(min_value=0, max_value=dotnet.MAX_TICKS), st.booleans())
def test_round_trip_format_o(ticks: int, utc: bool) -> None:
    moment = dotnet.DateTime(ticks, utc)
    assert dotnet.parse_datetime(dotnet.format_datetime(moment, "o")) == moment


def test_every_implemented_function_is_documented() -> None:
    """The evaluator implements nothing outside "Expressions and functions in Azure Data Factory"."""
    from company_activity_local.pipeline.expressions import DOCUMENTED_FUNCTIONS, FUNCTIONS

    assert set(FUNCTIONS) <= DOCUMENTED_FUNCTIONS, sorted(set(FUNCTIONS) - DOCUMENTED_FUNCTIONS)


@pytest.mark.parametrize(("text", "found"), [
    ("@activity('X').output.rows[0].id", None),
    ("@activity('X').Status", None),
    ("@activity('X').error.message", None),
    ("@pipeline()?.TriggeredByPipelineName", None),
    ("@pipeline().globalParameters.g", None),
    ("@activity('X')?.output", "'?' after activity(...)"),
    ("@activity('X').output?.rows", "'?' after activity(...)"),
    ("@activity('X').error.errorCode", "only activity(...).error.message is documented"),
    ("@activity('X').ActivityRunId", "is not a documented activity property"),
    ("@pipeline().Factory", "is not a documented system variable"),
])
def test_undocumented_uses(text: str, found: str | None) -> None:
    from company_activity_local.pipeline.expressions import undocumented_uses

    uses = undocumented_uses(text)
    assert (uses == []) if found is None else any(found in use for use in uses), uses
