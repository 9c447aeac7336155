"""The shape of :func:`freya.validate_numbers`' result, for type checkers.

The function itself is Rust (``freya::campaign::validate_numbers``, through
freya-py/src/numbers.rs); these are plain ``TypedDict`` declarations of the dicts it returns.
"""

from __future__ import annotations

from typing import Dict, List, TypedDict, Union

__all__ = ["NumberList", "RejectedNumber"]


class RejectedNumber(TypedDict):
    """One refused entry of a phone list."""

    line: int
    """The entry's line in the list (1-based: ``numbers[line - 1]``)."""
    value: str
    """The entry as given."""
    kind: str
    """Why it was refused, snake_case: ``"empty"``, ``"bad_character"``, ``"too_short"``,
    ``"too_long"``, ``"no_country_code"``, ``"zero_country_code"``, ``"prefix_not_allowed"``,
    ``"duplicate"``, ``"bad_uri"`` or ``"bad_rule"``."""
    message: str
    """The reason in words, quoting the entry."""
    reason: Dict[str, Union[str, int]]
    """The Rust error as serde serializes it: ``{"kind": ..., ...the variant's fields}``
    (e.g. ``{"kind": "duplicate", "number": "+14155550100", "first_line": 1}``)."""


class NumberList(TypedDict):
    """A checked phone list: what can be dialed, in list order, and what cannot."""

    valid: List[str]
    """E.164 numbers (``"+14155550100"``) and SIP URIs, normalised, in the order given."""
    rejected: List[RejectedNumber]
    """The entries refused, with their lines."""
