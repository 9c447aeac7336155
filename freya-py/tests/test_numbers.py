"""Tests of freya.validate_numbers (a campaign's phone list) through the Python binding."""

from __future__ import annotations

import json

import pytest

import freya


def by_line(checked):
    return {r["line"]: r for r in checked["rejected"]}


def test_separators_are_removed_and_order_kept():
    checked = freya.validate_numbers(
        ["+1 (415) 555-0100", "sip:bob@192.0.2.7", "+44 20.7183.8750", "0033 1 42 68 53 00"]
    )
    assert checked == {
        "valid": ["+14155550100", "sip:bob@192.0.2.7", "+442071838750", "+33142685300"],
        "rejected": [],
    }


def test_national_number_completed_with_default_country_code():
    numbers = ["020 7183 8750", "(415) 555-0100"]
    assert freya.validate_numbers(numbers, default_country_code="44")["valid"] == [
        "+442071838750",
        "+444155550100",
    ]
    assert freya.validate_numbers(numbers, default_country_code="+1")["valid"] == [
        "+12071838750",
        "+14155550100",
    ]
    # Without a country code to complete them, both are refused, each on its line.
    checked = freya.validate_numbers(numbers)
    assert checked["valid"] == []
    assert [(r["line"], r["value"], r["kind"]) for r in checked["rejected"]] == [
        (1, "020 7183 8750", "no_country_code"),
        (2, "(415) 555-0100", "no_country_code"),
    ]
    assert '"020 7183 8750"' in checked["rejected"][0]["message"]


def test_letter_refused_with_its_line_and_position():
    checked = freya.validate_numbers(["+14155550100", "+1 415 555-CALL", "+14155550101"])
    assert checked["valid"] == ["+14155550100", "+14155550101"]
    [rejected] = checked["rejected"]
    assert rejected["line"] == 2
    assert rejected["value"] == "+1 415 555-CALL"
    assert rejected["kind"] == "bad_character"
    assert rejected["reason"] == {
        "kind": "bad_character",
        "entry": "+1 415 555-CALL",
        "ch": "C",
        "at": 12,
    }
    assert '"+1 415 555-CALL"' in rejected["message"] and "'C'" in rejected["message"]
    assert "character 12" in rejected["message"]


def test_duplicate_names_the_first_line():
    checked = freya.validate_numbers(
        ["+33 1 42 68 53 00", "+14155550100", "0033142685300", "+1 (415) 555-0100"]
    )
    assert checked["valid"] == ["+33142685300", "+14155550100"]
    rejected = by_line(checked)
    assert sorted(rejected) == [3, 4]
    assert rejected[3]["kind"] == rejected[4]["kind"] == "duplicate"
    assert rejected[3]["reason"]["first_line"] == 1
    assert rejected[4]["reason"]["first_line"] == 2
    assert rejected[4]["reason"]["number"] == "+14155550100"
    assert "line 2" in rejected[4]["message"]
    assert rejected[4]["value"] == "+1 (415) 555-0100"


def test_prefix_outside_allowed_prefixes_refused():
    numbers = ["+1 415 555 0100", "+33 1 42 68 53 00", "+1 212 555 0199", "+44 20 7183 8750"]
    checked = freya.validate_numbers(numbers, allowed_prefixes=["+1415", "+44"])
    assert checked["valid"] == ["+14155550100", "+442071838750"]
    assert [(r["line"], r["kind"]) for r in checked["rejected"]] == [
        (2, "prefix_not_allowed"),
        (3, "prefix_not_allowed"),
    ]
    assert checked["rejected"][1]["reason"] == {
        "kind": "prefix_not_allowed",
        "number": "+12125550199",
        "allowed": "+1415, +44",
    }
    assert "+1415, +44" in checked["rejected"][0]["message"]
    # With no allowed prefixes, all four pass.
    assert len(freya.validate_numbers(numbers)["valid"]) == 4


def test_bad_rule_refuses_every_entry():
    numbers = ["+14155550100", "020 7183 8750", "sip:bob@192.0.2.7"]
    checked = freya.validate_numbers(numbers, default_country_code="0044")
    assert checked["valid"] == []
    assert [r["line"] for r in checked["rejected"]] == [1, 2, 3]
    assert [r["value"] for r in checked["rejected"]] == numbers
    for r in checked["rejected"]:
        assert r["kind"] == "bad_rule"
        assert r["reason"]["setting"] == "default_country_code"
        assert r["reason"]["value"] == "0044"
        assert '"0044"' in r["message"]
    bad_prefix = freya.validate_numbers(numbers, allowed_prefixes=["+1", "+4x"])
    assert {r["kind"] for r in bad_prefix["rejected"]} == {"bad_rule"}
    assert bad_prefix["rejected"][0]["reason"]["value"] == "+4x"


def test_every_rejection_carries_kind_message_and_json_reason():
    checked = freya.validate_numbers(
        ["   ", "+12", "+1234567890123456", "+0441234567", "sip:@host"],
        default_country_code="1",
    )
    kinds = [r["kind"] for r in checked["rejected"]]
    assert kinds == ["empty", "too_short", "too_long", "zero_country_code", "bad_uri"]
    for r in checked["rejected"]:
        assert r["reason"]["kind"] == r["kind"]
        assert r["message"]
        json.dumps(r)  # plain JSON-able data
    assert checked["rejected"][2]["reason"]["digits"] == 16


def test_arguments_are_checked():
    with pytest.raises(TypeError):
        freya.validate_numbers("+14155550100")  # a str is not a list of numbers
    with pytest.raises(TypeError):
        freya.validate_numbers(["+14155550100"], "1")  # rules are keyword-only
    with pytest.raises(TypeError):
        freya.validate_numbers(["+14155550100"], allowed_prefixes="+1")
    with pytest.raises(TypeError):
        freya.validate_numbers(["+14155550100"], allowed_prefix=["+1"])  # misspelt
    assert freya.validate_numbers([]) == {"valid": [], "rejected": []}
    assert freya.validate_numbers(("+14155550100",))["valid"] == ["+14155550100"]
