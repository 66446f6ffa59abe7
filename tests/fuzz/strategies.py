"""Hypothesis strategies of hostile input: strings with lone surrogates, NUL and other control
characters, oversized and odd-looking values; JSON values of any shape; raw bodies that are not
quite JSON (deep nesting, numbers beyond a double, broken UTF-8)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Strings a careful client never sends, which a hostile one does.
SPECIAL_STRINGS = [
    "",
    " ",
    "\ud800",
    "a\udfffb",
    "\x00",
    "a\x00b",
    "\u2028\u2029",
    "\ufeff",
    "😀",
    "A" * 5000,
    "é" * 500,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%ED%A0%80",
    "%00",
    "null",
    "1e999",
    "-0",
    "NaN",
    "+15555550123",
    "user@example.com",
    "a@b",
    "https://evil.example/",
    "authflowstate_AAAA",
    "VXNlcjox",  # base64 of a GraphQL node ID
]

# Text including surrogates (hypothesis leaves category Cs out unless told otherwise).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
hostile_strings = st.one_of(st.sampled_from(SPECIAL_STRINGS), any_text, st.text(max_size=40))

numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 2**31, 2**63, -(2**63) - 1, 10**30, 1e308, 5e-324]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, hostile_strings)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(hostile_strings, children, max_size=4),
    ),
    max_leaves=12,
)


def objects_with(keys: list[str], values: st.SearchStrategy[Any] = json_values) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose keys are mostly the ones a handler looks at, with values of any type."""
    key = st.one_of(st.sampled_from(keys), hostile_strings)
    return st.dictionaries(key, st.one_of(values, hostile_strings), max_size=len(keys) + 1)


def _nest(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


# Bodies a JSON parser chokes on or should refuse: not JSON, deep, huge numbers, bad UTF-8.
raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.builds(_nest, st.sampled_from([20, 33, 200, 5000, 50_000]), st.sampled_from(["array", "object"])),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b'"x"',
            b"1e999",
            b'{"a": 1e999}',
            b'{"a": NaN}',
            b'{"a": -Infinity}',
            b'{"a": ' + b"9" * 5000 + b"}",
            b'{"a": ' + b"9" * 400 + b"}",
            b'{"a": "\\ud800"}',
            b'{"\\udc00": 1}',
            b'{"a": "\\u0000"}',
            b'{"a": "\xed\xa0\x80"}',
            b'{"a": "\xff"}',
            b"\xef\xbb\xbf{}",
            b'{"a": 1, "a": 2}',
            b'{"a": 1',
        ]
    ),
)
