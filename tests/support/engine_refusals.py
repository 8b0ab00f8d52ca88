"""Corpus cases that Microsoft's engine accepts and our evaluator refuses, each with the reason.

Refusing is the strict side (JSON that works locally works in ADF); every other difference fails
tests/local/pipeline/test_engine_differential.py, and so does an entry here that stops being a refusal of
ours alone. docs/azure-fidelity.md summarises the reasons.
"""

from __future__ import annotations

UNDOCUMENTED_SYNTAX = "syntax the engine also reads but the documentation does not show (a signed or dotted number, " \
                      "a lone @, a property name outside ASCII): only the documented forms are read"
NAME_IN_ANOTHER_CASE = "the engine finds variables and activities whatever the case of the name; here the name " \
                       "must be written as declared, as the validator checks"
ARITY = "the number of arguments the documentation gives for the function"
EMPTY_JSON = "json('') is null in the engine; the documentation gives no meaning to an empty document"
NUMBER_TEXT = ".NET Framework and Mono write a double with 15 significant digits and -0.0 as 0, .NET Core writes " \
              "the shortest round-trip form and -0; which one ADF runs is not documented"
LOOSE_NUMBER = "the engine reads numbers loosely (exponents in int(), thousands separators, NaN, Infinity, booleans " \
               "as 0/1); only plain decimal text is converted here"
INT_BEYOND_DOUBLE = "the engine converts int() text through a double, losing digits beyond 2^53"
NOT_FINITE = "an infinite double comes back from the engine as the string 'Infinity'"
TIMESTAMP_OFFSET = "a timestamp with a numeric offset is converted to the local time zone of the machine running the " \
                   "engine (DateTimeStyles.RoundtripKind), which Microsoft does not document"
TIMESTAMP_FORM = "DateTime.TryParse reads many spellings (03/01/2026, 2026-3-1, lower-case t and z, 8 fraction " \
                 "digits); only ISO 8601 yyyy-MM-dd[THH:mm[:ss[.fffffff]]][Z] is read here"
HOST_ZONE_FORMAT = "the U standard format and the z specifier use the local time zone of the machine running the engine"
CULTURE_TEXT = "startsWith, endsWith, indexOf, greater and less compare with .NET's invariant culture, whose results " \
               "outside printable ASCII (or, for ordering, outside ASCII letters and digits) differ between NLS, " \
               "ICU and Mono"
UTF16 = "the engine counts UTF-16 code units: a character outside the Basic Multilingual Plane counts two"
CASE_MAPPING = "ToUpperInvariant/ToLowerInvariant of this letter differs between .NET runtimes (Unicode versions, " \
               "Turkic and title-case letters)"
INVALID_UTF8 = "the percent-escapes do not decode to UTF-8 text; the engine's replacement characters depend on the " \
               "decoder"
RANGE_START = "range() takes a 32-bit start; the engine wraps a start outside that range"

REFUSED: dict[str, str] = {
    **dict.fromkeys(["@+1", "@5.", "@", "@json('{\"Ä\":1}').ä"], UNDOCUMENTED_SYNTAX),
    **dict.fromkeys(["@variables('T')", "@activity('lookup').output"], NAME_IN_ANOTHER_CASE),
    **dict.fromkeys(["@and(true)", "@equals(1,2,3)"], ARITY),
    "@json('')": EMPTY_JSON,
    **dict.fromkeys(["@{-0.0}", "@string(-0.0)", "@string(1234567890123456.0)", "@string(div(1.0, 3))",
                     "@string(json('{\"a\": 1e21, \"b\": 0.30000000000000004, \"c\": 1e-7}'))",
                     "@string(add(0.1, 0.2))", "@string(json('{\"a\": -0.0}'))", "@{div(1.0, 3)}"], NUMBER_TEXT),
    **dict.fromkeys(["@int('4e2')", "@int(true)", "@int('1,000')", "@float('1,5')", "@float('1,000.5')",
                     "@float('NaN')", "@float('Infinity')", "@float(true)"], LOOSE_NUMBER),
    **dict.fromkeys(["@int('9007199254740993')", "@int('922337203685477580')"], INT_BEYOND_DOUBLE),
    **dict.fromkeys(["@mul(1e308, 10)", "@add(1e308, 1e308)"], NOT_FINITE),
    **dict.fromkeys(["@formatDateTime('2026-03-01T10:20:30+02:00')", "@formatDateTime('2026-03-01T10:20:30-05:30')",
                     "@formatDateTime('2026-03-01T10:20:30+02:00', 'o')",
                     "@formatDateTime('2026-03-01T10:20:30+02:00', 'K zzz')",
                     "@addDays('2026-03-01T00:00:00+02:00', 1)", "@startOfDay('2026-03-01T10:20:30+05:00')",
                     "@startOfDay('2026-03-01T01:20:30+05:00')", "@dayOfWeek('2026-03-01T23:00:00-05:00')",
                     "@dayOfMonth('2026-03-01T23:00:00-05:00')", "@ticks('2026-03-01T00:00:00+01:00')"],
                    TIMESTAMP_OFFSET),
    **dict.fromkeys(["@formatDateTime('2026-03-01T10:20:30.12345678Z')", "@formatDateTime('03/01/2026')",
                     "@formatDateTime('2026-3-1')", "@formatDateTime('2026-03-01T10:20:30z')",
                     "@formatDateTime('2026-03-01t10:20:30Z')", "@formatDateTime('2026-03-01T10:20:30 Z')"],
                    TIMESTAMP_FORM),
    **dict.fromkeys(["@formatDateTime('2026-03-01T10:20:30Z', 'U')",
                     "@formatDateTime('2026-03-01T10:20:30Z', 'K zzz zz z')",
                     "@formatDateTime('2026-03-01T10:20:30', 'K zzz')"], HOST_ZONE_FORMAT),
    **dict.fromkeys(["@startsWith('Straße', 'STRASSE')", "@indexOf('😀b', 'b')", "@greater('ä', 'z')",
                     "@greater('a b', 'ab')", "@greater('a-b', 'ab')", "@greater('a_b', 'ab')",
                     "@contains(json('{\"ä\":1}'), 'Ä')"], CULTURE_TEXT),
    **dict.fromkeys(["@length('😀')", "@length(skip('😀', 1))"], UTF16),
    **dict.fromkeys(["@toLower('İ')", "@toUpper('ı')",
                     *(f"@createArray(toUpper('{c}'), toLower('{c}'))" for c in "İıŉſǅǈǲȿɀɒµςΐΰϐϑϕԤԥẞ")],
                    CASE_MAPPING),
    **dict.fromkeys(["@uriComponentToString('%FF')", "@uriComponentToString('%E2%82')"], INVALID_UTF8),
    "@range(-2147483649, 1)": RANGE_START,
}
