"""What ADF's expression functions inherit from .NET: DateTime values and their format strings, a double's
text, JSON text (Newtonsoft), and invariant-culture string comparison, casing and trimming.

Microsoft's engine (the `Microsoft.Azure.Workflows.Templates` assemblies that data-factory-testing-framework
1.4.4 ships) implements the functions with .NET: timestamps are `DateTime.TryParse(text,
CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind)`, formatted with `DateTime.ToString(format)`;
`startsWith`, `endsWith` and `indexOf` compare with `StringComparison.InvariantCultureIgnoreCase`,
`greater`/`less` with `InvariantCulture`; `toUpper`/`toLower` are `ToUpperInvariant`/`ToLowerInvariant`;
`string()` of a number is `double.ToString()`; objects become text through Newtonsoft.Json. The
differential test (tests/local/pipeline/test_engine_differential.py) checks this module's answers
against that engine.

Where the answer depends on which .NET runtime or host ADF runs on, and Microsoft does not document it,
these functions refuse (ValueError naming the input) instead of guessing:
- a timestamp with a numeric UTC offset: RoundtripKind converts it to the host's local time zone;
- the `z` format specifier: it prints the host's offset;
- a double needing more than 15 significant digits, or -0.0: .NET Framework (and Mono) print 15
  digits (`G15`), .NET Core 3.0+ prints the shortest round-trip form;
- culture-sensitive comparison of text outside printable ASCII (collation tables differ between
  Windows NLS, ICU and Mono), and ordering of text other than ASCII letters and digits;
- case mapping of letters outside the Latin-1, Latin Extended-A, basic Greek and Cyrillic letters
  whose mapping is a plain one-to-one pair (newer Unicode versions added mappings older runtimes lack).

Written here rather than taken from a library: these are .NET's rules (not ISO 8601's, not Python's
`strftime`, not ICU's), and no maintained Python library reproduces them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
TICKS_PER_SECOND = 10_000_000
TICKS_PER_DAY = 86_400 * TICKS_PER_SECOND
MAX_TICKS = 3_155_378_975_999_999_999  # 9999-12-31T23:59:59.9999999


def check_int64(value: int) -> int:
    """.NET's checked 64-bit arithmetic: a result outside Int64 is an overflow error."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{value} is outside the 64-bit integer range (overflow)")
    return value


# ------------------------------------------------------------------------------------- DateTime


@dataclass(frozen=True)
class DateTime:
    """A .NET DateTime: 100 ns ticks since 0001-01-01 and a Kind, Utc (the text said Z) or Unspecified."""

    ticks: int
    utc: bool

    def __post_init__(self) -> None:
        if not 0 <= self.ticks <= MAX_TICKS:
            raise ValueError("the result is outside the range of .NET DateTime (0001-01-01 to 9999-12-31)")

    @classmethod
    def from_datetime(cls, value: datetime) -> DateTime:
        """An aware datetime (converted to UTC, Kind Utc) or a naive one (Kind Unspecified)."""
        utc = value.tzinfo is not None
        if utc:
            value = value.astimezone(UTC)
        days = value.date().toordinal() - 1
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return cls(days * TICKS_PER_DAY + seconds * TICKS_PER_SECOND + value.microsecond * 10, utc)

    @property
    def date(self) -> date:
        return date.fromordinal(self.ticks // TICKS_PER_DAY + 1)

    @property
    def time_ticks(self) -> int:
        return self.ticks % TICKS_PER_DAY

    @property
    def hour(self) -> int:
        return self.time_ticks // (3600 * TICKS_PER_SECOND)

    @property
    def minute(self) -> int:
        return self.time_ticks // (60 * TICKS_PER_SECOND) % 60

    @property
    def second(self) -> int:
        return self.time_ticks // TICKS_PER_SECOND % 60

    @property
    def fraction(self) -> int:
        """The seconds' fraction in ticks (7 digits)."""
        return self.ticks % TICKS_PER_SECOND

    @property
    def day_of_week(self) -> int:
        """.NET DayOfWeek: Sunday = 0."""
        return (self.ticks // TICKS_PER_DAY + 1) % 7

    def add_ticks(self, ticks: int) -> DateTime:
        return DateTime(self.ticks + ticks, self.utc)

    def add_months(self, months: int) -> DateTime:
        """DateTime.AddMonths: the day is clamped to the last day of the target month."""
        day = self.date
        index = day.year * 12 + day.month - 1 + months
        year, month = divmod(index, 12)
        if not 1 <= year <= 9999:
            raise ValueError("the result is outside the range of .NET DateTime (0001-01-01 to 9999-12-31)")
        next_month = date(year + (month == 11), (month + 1) % 12 + 1, 1)
        last_day = (next_month.toordinal() - date(year, month + 1, 1).toordinal())
        target = date(year, month + 1, min(day.day, last_day))
        return DateTime((target.toordinal() - 1) * TICKS_PER_DAY + self.time_ticks, self.utc)

    def truncate(self, unit: str) -> DateTime:
        """Start of the day, hour or month, same Kind."""
        if unit == "month":
            return DateTime((self.date.replace(day=1).toordinal() - 1) * TICKS_PER_DAY, self.utc)
        size = TICKS_PER_DAY if unit == "day" else 3600 * TICKS_PER_SECOND
        return DateTime(self.ticks - self.ticks % size, self.utc)


_DIGITS = "[0-9]"
_TIMESTAMP = re.compile(
    rf"({_DIGITS}{{4}})-({_DIGITS}{{2}})-({_DIGITS}{{2}})"
    rf"(?:[T ]({_DIGITS}{{2}}):({_DIGITS}{{2}})(?::({_DIGITS}{{2}})(?:\.({_DIGITS}{{1,7}}))?)?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


def parse_datetime(text: str) -> DateTime:
    """The ISO 8601 forms this stand-in reads (a subset of what DateTime.TryParse reads, with the same result):
    yyyy-MM-dd, optionally [T ]HH:mm[:ss[.fffffff]], optionally Z. Surrounding spaces are ignored."""
    match = _TIMESTAMP.fullmatch(text.strip(" "))
    if not match:
        raise ValueError(f"cannot read {text!r} as an ISO 8601 timestamp (yyyy-MM-dd, optionally "
                         "THH:mm[:ss[.fffffff]] and Z)")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone and zone != "Z":
        raise ValueError(f"{text!r} has a UTC offset: ADF's engine converts such a timestamp to the local time "
                         "zone of the machine it runs on, which Microsoft does not document; use a UTC time "
                         "with Z or a time without a zone")
    try:
        value = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid timestamp ({exc})") from None
    ticks = DateTime.from_datetime(value).ticks + int((fraction or "0").ljust(7, "0"))
    return DateTime(ticks, zone == "Z")


_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")
# Standard formats of the invariant culture, as custom patterns. `U` (universal full) converts through the
# host's time zone and is not here; `z` is refused in custom patterns for the same reason.
_STANDARD_FORMATS = {
    "d": "MM/dd/yyyy",
    "D": "dddd, dd MMMM yyyy",
    "f": "dddd, dd MMMM yyyy HH:mm",
    "F": "dddd, dd MMMM yyyy HH:mm:ss",
    "g": "MM/dd/yyyy HH:mm",
    "G": "MM/dd/yyyy HH:mm:ss",
    "m": "MMMM dd",
    "M": "MMMM dd",
    "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "t": "HH:mm",
    "T": "HH:mm:ss",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
    "y": "yyyy MMMM",
    "Y": "yyyy MMMM",
}


def format_datetime(value: DateTime, fmt: str) -> str:
    """DateTime.ToString(fmt) with the invariant culture. An empty format is "G", as in .NET."""
    if fmt == "":
        fmt = "G"
    if len(fmt) == 1:
        if fmt not in _STANDARD_FORMATS:
            raise ValueError(f"{fmt!r} is not a standard date format the stand-in supports "
                             f"({''.join(sorted(_STANDARD_FORMATS))})")
        fmt = _STANDARD_FORMATS[fmt]
    out: list[str] = []
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char in "'\"":
            end = fmt.find(char, i + 1)
            if end < 0:
                raise ValueError(f"unterminated quoted text in date format {fmt!r}")
            out.append(fmt[i + 1:end])
            i = end + 1
            continue
        if char == "\\":
            if i + 1 >= len(fmt):
                raise ValueError(f"date format {fmt!r} ends with an escape character")
            out.append(fmt[i + 1])
            i += 2
            continue
        if char == "%":
            if i + 1 >= len(fmt) or fmt[i + 1] == "%":
                raise ValueError(f"'%' in date format {fmt!r} must be followed by a format specifier")
            i += 1
            continue
        run = 1
        while i + run < len(fmt) and fmt[i + run] == char:
            run += 1
        text = _format_token(value, char, run, fmt)
        if char == "F" and not text and out and out[-1].endswith("."):
            out[-1] = out[-1][:-1]  # .NET drops the decimal point before an empty F fraction
        out.append(text)
        i += run
    return "".join(out)


def _format_token(value: DateTime, char: str, run: int, fmt: str) -> str:
    day = value.date
    if char == "y":
        return str(day.year % 100) if run == 1 else f"{day.year % 100:02d}" if run == 2 else f"{day.year:0{run}d}"
    if char == "M":
        return (str(day.month), f"{day.month:02d}", _MONTH_NAMES[day.month - 1][:3])[run - 1] if run < 4 \
            else _MONTH_NAMES[day.month - 1]
    if char == "d":
        return (str(day.day), f"{day.day:02d}", _DAY_NAMES[value.day_of_week][:3])[run - 1] if run < 4 \
            else _DAY_NAMES[value.day_of_week]
    if char in "Hhms":
        number = {"H": value.hour, "h": value.hour % 12 or 12, "m": value.minute, "s": value.second}[char]
        return str(number) if run == 1 else f"{number:02d}"
    if char in "fF":
        if run > 7:
            raise ValueError(f"{char * run!r} in date format {fmt!r}: at most 7 fraction digits")
        digits = f"{value.fraction:07d}"[:run]
        return digits if char == "f" else digits.rstrip("0")
    if char == "t":
        return ("AM" if value.hour < 12 else "PM")[:min(run, 2)]
    if char == "K":
        return ("Z" if value.utc else "") * run
    if char == "z":
        raise ValueError(f"the 'z' specifier in date format {fmt!r} prints the offset of the machine ADF runs on, "
                         "which Microsoft does not document; use K (Z for a UTC time)")
    if char == "g":
        return "A.D."
    return char * run  # not a specifier: copied, as .NET does (the T of yyyy-MM-ddTHH:mm)


# ---------------------------------------------------------------------------------------- numbers


def format_double(value: float) -> str:
    """double.ToString() with the invariant culture, where .NET runtimes agree (15 significant digits)."""
    digits, exponent, negative = _shortest_digits(value)
    return ("-" if negative else "") + _general(digits, exponent)


def _shortest_digits(value: float) -> tuple[str, int, bool]:
    """(significant digits, decimal exponent of the first digit, sign) of the shortest round-trip form."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number; ADF's engine writes it as a string")
    if value == 0:
        if math.copysign(1.0, value) < 0:
            raise ValueError("-0.0 is written '0' by .NET Framework and '-0' by .NET Core; refused")
        return "0", 0, False
    sign, digit_tuple, exp = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    trailing = len("".join(map(str, digit_tuple))) - len(digits)
    exponent = int(exp) + trailing + len(digits) - 1
    if len(digits) > 15:
        raise ValueError(f"{value!r} needs {len(digits)} significant digits: .NET Framework writes 15 and .NET Core "
                         "the shortest round-trip form, and Microsoft does not document which ADF runs; round it")
    return digits, exponent, bool(sign)


def _general(digits: str, exponent: int) -> str:
    """.NET "G" layout: scientific (1.5E+15, 1E-05) outside 1e-5 <= |x| < 1e15."""
    if exponent >= 15 or exponent < -4:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{mantissa}E{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    if exponent < 0:
        return "0." + "0" * (-exponent - 1) + digits
    whole = digits[:exponent + 1].ljust(exponent + 1, "0")
    rest = digits[exponent + 1:]
    return whole + ("." + rest if rest else "")


def json_text(value: object) -> str:
    """Newtonsoft.Json's compact text of a JSON value (JToken.ToString(Formatting.None))."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        digits, exponent, negative = _shortest_digits(value)
        text = _general(digits, exponent)
        if "." not in text and "E" not in text:
            text += ".0"  # Newtonsoft keeps a double recognisable as one
        return ("-" if negative else "") + text
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, list):
        return "[" + ",".join(json_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json_string(str(k))}:{json_text(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def json_string(text: str) -> str:
    """A JSON string as Newtonsoft writes it: control characters, U+0085, U+2028 and U+2029 as \\uXXXX."""
    out = []
    for char in text:
        if char in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[char])
        elif char < " " or char in "\u0085\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


# ------------------------------------------------------------------------------------------- text

# char.IsWhiteSpace in .NET Core (U+180E is whitespace only in .NET Framework: refused at an end).
WHITESPACE = "\t\n\v\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
             "\u2028\u2029\u202f\u205f\u3000"


def trim(text: str) -> str:
    trimmed = text.strip(WHITESPACE)
    if trimmed[:1] == "\u180e" or trimmed[-1:] == "\u180e":
        raise ValueError("U+180E at an end of the text: .NET Framework trims it, .NET Core does not; refused")
    return trimmed


def check_utf16(text: str) -> str:
    """.NET counts UTF-16 code units: a character outside the Basic Multilingual Plane counts 2 and can be cut
    in half. Index and length functions refuse such text instead of counting differently."""
    if any(ord(char) > 0xFFFF for char in text):
        raise ValueError(f"{text!r} has a character outside the Basic Multilingual Plane, which ADF counts as two "
                         "UTF-16 code units; refused")
    return text


def _printable_ascii(text: str) -> str:
    if not all(" " <= char <= "~" for char in text):
        raise ValueError(f"ADF compares with .NET's invariant culture, whose results for {text!r} (characters outside "
                         "printable ASCII) differ between .NET runtimes; refused")
    return text


def starts_with(text: str, prefix: str) -> bool:
    """InvariantCultureIgnoreCase prefix test, for printable ASCII."""
    return _printable_ascii(text).lower().startswith(_printable_ascii(prefix).lower())


def ends_with(text: str, suffix: str) -> bool:
    return _printable_ascii(text).lower().endswith(_printable_ascii(suffix).lower())


def index_of(text: str, part: str) -> int:
    return _printable_ascii(text).lower().find(_printable_ascii(part).lower())


_ALPHANUMERIC = re.compile("[A-Za-z0-9]*")


def compare_invariant(a: str, b: str) -> int:
    """String.Compare(a, b, StringComparison.InvariantCulture) for ASCII letters and digits: alphabetical
    ignoring case (digits first), then, for equal letters, lower case before upper case, left to right."""
    for text in (a, b):
        if not _ALPHANUMERIC.fullmatch(text):
            raise ValueError(f"ADF orders text with .NET's invariant culture; the order of {text!r} (characters other "
                             "than ASCII letters and digits) differs between .NET runtimes; refused")
    key_a = (a.lower(), [c.isupper() for c in a])
    key_b = (b.lower(), [c.isupper() for c in b])
    return (key_a > key_b) - (key_a < key_b)


def _mapped_block(char: str) -> bool:
    code = ord(char)
    return (0xC0 <= code <= 0xFF and char not in "\u00d7\u00f7") \
        or (0x100 <= code <= 0x17F and char not in "\u0130\u0131\u0149\u017f") \
        or (0x386 <= code <= 0x3CE and char not in "\u0390\u03b0\u03c2") \
        or 0x400 <= code <= 0x45F


def change_case(text: str, upper: bool) -> str:
    """ToUpperInvariant / ToLowerInvariant: one-to-one mappings only (ß stays ß)."""
    out = []
    for char in text:
        mapped = char.upper() if upper else char.lower()
        if char < "\u0080" or (mapped == char and char.upper() == char.lower()):
            out.append(mapped)
        elif _mapped_block(char):
            out.append(mapped if len(mapped) == 1 else char)
        else:
            raise ValueError(f"the invariant case mapping of {char!r} (U+{ord(char):04X}) differs between .NET "
                             "runtimes; refused")
    return "".join(out)


def url_decode(text: str) -> str:
    """HttpUtility.UrlDecode(text, UTF8): %XX bytes as UTF-8, '+' as a space, malformed escapes kept as text."""
    if re.search("%[uU]", text):
        raise ValueError(f"%u escapes in {text!r} decode differently between .NET runtimes; refused")
    out = bytearray()
    i = 0
    while i < len(text):
        char = text[i]
        if char == "+":
            out += b" "
        elif char == "%" and re.fullmatch("[0-9A-Fa-f]{2}", text[i + 1:i + 3]):
            out.append(int(text[i + 1:i + 3], 16))
            i += 2
        else:
            out += char.encode("utf-8")
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{text!r} does not decode to UTF-8 text") from None
