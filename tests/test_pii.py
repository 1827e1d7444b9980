# full-width and zero-width characters are the point of these tests
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard_middleware.checks.pii import PII_TYPES, PiiCheck, build_pii_regex
from guard_middleware.errors import ConfigError

ALL = PiiCheck("pii", PII_TYPES)


def found(text: str, check: PiiCheck = ALL) -> list[tuple[str, str]]:
    return [(m.category, text[m.start : m.end]) for m in check.find(text)]


def kinds(text: str) -> set[str]:
    return {c for c, _ in found(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail bob.smith+x@mail.example.co.uk now", ("EMAIL", "bob.smith+x@mail.example.co.uk")),
        ("call (555) 123-4567 today", ("PHONE", "(555) 123-4567")),
        ("call 555-123-4567 today", ("PHONE", "555-123-4567")),
        ("call +1 555 123 4567 today", ("PHONE", "+1 555 123 4567")),
        ("ring +44 20 7946 0958 now", ("PHONE", "+44 20 7946 0958")),
        ("ssn 123-45-6789 ok", ("SSN", "123-45-6789")),
        ("ssn 123 45 6789 ok", ("SSN", "123 45 6789")),
        ("my SSN is 123456789.", ("SSN", "123456789")),
        ("social security number: 123456789", ("SSN", "123456789")),
        ("visa 4111 1111 1111 1111 ok", ("CREDIT_CARD", "4111 1111 1111 1111")),
        ("amex 3782 822463 10005 ok", ("CREDIT_CARD", "3782 822463 10005")),
        ("mc 2221-0000-0000-0009 ok", ("CREDIT_CARD", "2221-0000-0000-0009")),
        ("mc 5555555555554444 ok", ("CREDIT_CARD", "5555555555554444")),
        ("discover 6011111111111117 ok", ("CREDIT_CARD", "6011111111111117")),
        ("jcb 3530111333300000 ok", ("CREDIT_CARD", "3530111333300000")),
        ("diners 3056 930902 5904 ok", ("CREDIT_CARD", "3056 930902 5904")),
        ("host 192.168.0.1 up", ("IP_ADDRESS", "192.168.0.1")),
        ("compressed 2a00:1450::1 up", ("IP_ADDRESS", "2a00:1450::1")),
        ("link fe80::1 up", ("IP_ADDRESS", "fe80::1")),
        ("v6 2a00:1450::8a2e:370:7334 up", ("IP_ADDRESS", "2a00:1450::8a2e:370:7334")),
        (
            "full 2a00:0db8:85a3:0000:0000:8a2e:0370:7334 up",
            ("IP_ADDRESS", "2a00:0db8:85a3:0000:0000:8a2e:0370:7334"),
        ),
        ("I was born on 1990-01-02 in Leeds", ("DATE_OF_BIRTH", "1990-01-02")),
        ("DOB: 02/03/1985", ("DATE_OF_BIRTH", "02/03/1985")),
        ("birthday is March 3, 1990", ("DATE_OF_BIRTH", "March 3, 1990")),
        ("date of birth: 3rd of May 1970", ("DATE_OF_BIRTH", "3rd of May 1970")),
        ("nic 00:1A:2B:3C:4D:5E up", ("MAC_ADDRESS", "00:1A:2B:3C:4D:5E")),
        ("nic 00-1a-2b-3c-4d-5e up", ("MAC_ADDRESS", "00-1a-2b-3c-4d-5e")),
        ("see https://example.com/a?b=1. next", ("URL", "https://example.com/a?b=1")),
        ("see www.example.org, next", ("URL", "www.example.org")),
        ("iban GB82 WEST 1234 5698 7654 32 ok", ("IBAN", "GB82 WEST 1234 5698 7654 32")),
        ("iban DE89370400440532013000 ok", ("IBAN", "DE89370400440532013000")),
        ("key AKIAIOSFODNN7EXAMPLE ok", ("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE")),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ("AWS_SECRET_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ),
        (
            "key sk-proj-abcdefghijklmnopqrstuvwxyz123456 ok",
            ("API_KEY", "sk-proj-abcdefghijklmnopqrstuvwxyz123456"),
        ),
        (
            "key ghp_abcdefghijklmnopqrstuvwxyz0123456789 ok",
            ("API_KEY", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        ),
        ("key xoxb-1234567890-abcdefghij ok", ("API_KEY", "xoxb-1234567890-abcdefghij")),
        (
            "key AIzaSyA1234567890abcdefghijklmnopqrstuv ok",
            ("API_KEY", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
        ),
        ("key sk_live_abcdefghijklmnop1234 ok", ("API_KEY", "sk_live_abcdefghijklmnop1234")),
        ("password: hunter2, then", ("PASSWORD", "hunter2")),
        ("pwd=s3cr3t!", ("PASSWORD", "s3cr3t!")),
        ("my passwd is 'letmein'", ("PASSWORD", "letmein")),
    ],
)
def test_each_type_is_found_with_the_value_as_the_span(text: str, expected: tuple[str, str]) -> None:
    assert expected in found(text)


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("order 5551234567 shipped", "PHONE"),
        ("id 1555-123-45678", "PHONE"),
        ("serial 98765551234567 here", "PHONE"),
        ("route 123456789 has no context", "SSN"),
        ("ssn 000-12-3456", "SSN"),
        ("ssn 666-12-3456", "SSN"),
        ("ssn 912-12-3456", "SSN"),
        ("ssn 123-00-4567", "SSN"),
        ("ssn 123-45-0000", "SSN"),
        ("ssn 123-45-67890", "SSN"),
        ("card 4111 1111 1111 1112 fails luhn", "CREDIT_CARD"),
        ("number 1234567812345670 has no issuer", "CREDIT_CARD"),
        ("host 999.1.1.1 is not an address", "IP_ADDRESS"),
        ("time 10:30:45 is not an address", "IP_ADDRESS"),
        ("C++ std::vector is not an address", "IP_ADDRESS"),
        ("version 1.2.3.4.5 is not an address", "IP_ADDRESS"),
        ("meeting on 2024-01-02 at noon", "DATE_OF_BIRTH"),
        ("the stubborn 2020-01-01 release", "DATE_OF_BIRTH"),
        ("iban GB82 WEST 1234 5698 7654 33 bad checksum", "IBAN"),
        ("an adobe file from 1990-01-02", "DATE_OF_BIRTH"),
        ("the word password alone", "PASSWORD"),
        ("ask at the desk", "API_KEY"),
    ],
)
def test_near_misses_are_not_reported(text: str, absent: str) -> None:
    assert absent not in kinds(text)


def test_full_width_digits_and_zero_width_characters_do_not_evade_and_spans_cover_them() -> None:
    assert found("ssn １２３-４５-６７８９") == [("SSN", "１２３-４５-６７８９")]
    assert found("mail bob\u200b@example.com") == [("EMAIL", "bob\u200b@example.com")]


def test_find_reports_only_values_at_or_after_pos_but_uses_context_before_it() -> None:
    text = "SSN: 123456789 and 234-56-7890"
    assert [text[m.start : m.end] for m in ALL.find(text, pos=5)] == ["123456789", "234-56-7890"]
    assert [text[m.start : m.end] for m in ALL.find(text, pos=6)] == ["234-56-7890"]


def test_seed_booleans_select_types_and_default_to_all_six() -> None:
    check = build_pii_regex({}, name="pii", key="g.provider")
    assert set(check.types) == {"EMAIL", "PHONE", "SSN", "CREDIT_CARD", "IP_ADDRESS", "DATE_OF_BIRTH"}
    check = build_pii_regex({"phone": False, "types": ["mac_address"]}, name="pii", key="g.provider")
    assert "PHONE" not in check.types and "MAC_ADDRESS" in check.types
    assert kinds("call 555-123-4567 or 00:1A:2B:3C:4D:5E") == {"PHONE", "MAC_ADDRESS"}
    assert {c for c, _ in found("call 555-123-4567 or 00:1A:2B:3C:4D:5E", check)} == {"MAC_ADDRESS"}


def test_pii_section_types_match_case_insensitively() -> None:
    check = PiiCheck.for_types(["email", "Credit_Card"], name="pii", key="pii.types")
    assert check.types == ("EMAIL", "CREDIT_CARD")


def test_a_remote_only_type_is_a_config_error_naming_the_provider_that_can() -> None:
    with pytest.raises(ConfigError) as info:
        PiiCheck.for_types(["EMAIL", "NAME"], name="pii", key="pii.types")
    assert info.value.key == "pii.types[1]"
    assert "Bedrock" in info.value.message


def test_an_unknown_type_is_a_config_error_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        build_pii_regex({"types": ["EMAIL", "SHOE_SIZE"]}, name="pii", key="g.provider")
    assert info.value.key == "g.provider.types[1]"
    assert "CREDIT_CARD" in info.value.message


def test_an_unknown_option_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        build_pii_regex({"emails": True}, name="pii", key="g.provider")
    assert info.value.key == "g.provider.emails"


def test_holdback_keeps_a_partial_card_number() -> None:
    text = "pay with 4111 1111 11"
    assert ALL.holdback(text) == len("pay with ")


def test_holdback_keeps_a_complete_email_touching_the_end() -> None:
    text = "write to a@b.co"
    assert ALL.holdback(text) == len("write to ")


def test_holdback_keeps_a_trailing_word_because_it_may_be_the_start_of_an_email() -> None:
    assert ALL.holdback("nothing to see here") == len("nothing to see ")


def test_holdback_keeps_only_the_last_character_after_punctuation() -> None:
    assert ALL.holdback("nothing to see here!") == len("nothing to see here")


ALPHABET = st.sampled_from([*"0123456789 -.@ab:SN", "com", "ssn ", "born ", "+1 "])


@settings(max_examples=400, deadline=None)
@given(st.lists(ALPHABET, max_size=25).map("".join), st.data())
def test_settled_text_never_changes_verdict(text: str, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(text)))
    prefix = text[:k]
    h = ALL.holdback(prefix)
    assert 0 <= h <= k
    full = {(m.start, m.end, m.category) for m in ALL.find(text) if m.end <= h}
    part = {(m.start, m.end, m.category) for m in ALL.find(prefix) if m.end <= h}
    assert full == part


def test_holdback_keeps_an_earlier_partial_match_even_when_a_later_one_is_complete() -> None:
    # "ssn " still waits for its nine digits; the complete "::" after it must not hide that.
    assert ALL.holdback("ssn ::") == 0
    assert ALL.holdback("my ssn is ") == len("my ")


def test_holdback_keeps_a_partial_context_word_and_a_partial_url_prefix() -> None:
    assert ALL.holdback("the pass") == len("the ")
    assert ALL.holdback("see htt") == len("see ")


def test_find_after_pos_keeps_finditer_semantics_for_trigger_led_types() -> None:
    text = "go https://a.example/x https://b.example/y"
    assert [text[m.start : m.end] for m in ALL.find(text, pos=5)] == ["https://b.example/y"]


_ADDRESSES = "bind 0.0.0.0 and ::1, docs use 2001:db8::7 and 192.0.2.7; urllib3-1.19.5.145; host 10.1.2.3"


def _addresses(check: object) -> list[str]:
    assert isinstance(check, PiiCheck)
    return [_ADDRESSES[m.start : m.end] for m in check.find(_ADDRESSES) if m.category == "IP_ADDRESS"]


def test_special_purpose_addresses_and_versions_are_not_pii_by_default() -> None:
    assert _addresses(build_pii_regex({}, name="pii", key="g")) == ["10.1.2.3"]


def test_the_ip_address_table_turns_each_family_back_on() -> None:
    special = build_pii_regex({"ip_address": {"exclude_special": False}}, name="pii", key="g")
    assert _addresses(special) == ["0.0.0.0", "::1", "2001:db8::7", "192.0.2.7", "10.1.2.3"]
    versions = build_pii_regex({"ip_address": {"exclude_versions": False}}, name="pii", key="g")
    assert _addresses(versions) == ["1.19.5.145", "10.1.2.3"]
    assert "IP_ADDRESS" not in build_pii_regex({"ip_address": False}, name="pii", key="g").types
    with pytest.raises(ConfigError) as info:
        build_pii_regex({"ip_address": {"exclude_loopback": True}}, name="pii", key="g")
    assert info.value.key.startswith("g.ip_address")


def test_the_pii_section_takes_the_same_ip_address_table() -> None:
    from guard_middleware import GuardMiddleware, GuardSettings

    settings = GuardSettings.load(pii={"types": ["IP_ADDRESS"], "ip_address": {"exclude_special": False}})
    check = GuardMiddleware(settings).policy.guardrails["pii"].text_check
    assert _addresses(check) == ["0.0.0.0", "::1", "2001:db8::7", "192.0.2.7", "10.1.2.3"]


def test_the_ip_address_table_is_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from guard_middleware import GuardSettings

    monkeypatch.setenv("GUARD_PII__IP_ADDRESS__EXCLUDE_SPECIAL", "false")
    settings = GuardSettings.load(pii={"types": ["IP_ADDRESS"]})
    assert settings.pii is not None and settings.pii.ip_address.exclude_special is False
