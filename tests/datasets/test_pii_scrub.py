"""PII scrubbing of the prompts a dataset keeps: every kind is replaced and counted, and the numbers
that are not personal (years, prices, dates, ids, timestamps, versions) are left alone."""

from __future__ import annotations

import pytest

from llmgate.datasets.pii import luhn_valid, scrub, scrub_messages
from llmgate.protocol.redact import mask_keys, redact_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mail jane.doe+work@example.co.uk today", "Mail [EMAIL] today"),
        ("(J_SMITH@mail.example.com)", "([EMAIL])"),
        ("Call +44 20 7946 0958 now", "Call [PHONE] now"),
        ("Call +44 (0)20 7946 0958 now", "Call [PHONE] now"),
        ("Call +1 (415) 555-0132.", "Call [PHONE]."),
        ("Ruf +49 30 12345678 an", "Ruf [PHONE] an"),
        ("Appelle +33 6 12 34 56 78", "Appelle [PHONE]"),
        ("Call (415) 555-0132 or 415-555-0132", "Call [PHONE] or [PHONE]"),
        ("Call 415.555.0132 or 1-800-555-0199", "Call [PHONE] or [PHONE]"),
        ("Ring 020 7946 0958", "Ring [PHONE]"),
        ("Appelle le 06 12 34 56 78", "Appelle le [PHONE]"),
        ("Ruf 030 12345678 oder 0151-1234-5678", "Ruf [PHONE] oder [PHONE]"),
        ("Visa 4111 1111 1111 1111 exp 12/27", "Visa [CARD] exp 12/27"),
        ("MC 5500-0000-0000-0004", "MC [CARD]"),
        ("Amex 378282246310005.", "Amex [CARD]."),
        ("Discover 6011111111111117", "Discover [CARD]"),
        ("key sk-proj-abcdefghijklmnopqrstuvwx ok", "key [KEY] ok"),
        ("sk-ant-api03-abcdefghijklmnopqrstuv", "[KEY]"),
        ("my key sk-lg-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde", "my key [KEY]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [KEY]"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh [KEY]"),
        ("gh github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "gh [KEY]"),
        ("slack xoxb-123456789012-abcdefghij", "slack [KEY]"),
        ("google AIzaSyA1234567890abcdefghijklmnopqrstuv", "google [KEY]"),
        ("Authorization: Bearer abcdefghijklmnopqrst123", "Authorization: Bearer [KEY]"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "jwt [KEY]",
        ),
        (
            "why does ssh fail?\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
            "AAAAAAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAI\n-----END OPENSSH PRIVATE KEY-----\nthanks",
            "why does ssh fail?\n[KEY]\nthanks",
        ),
    ],
)
def test_each_kind_is_replaced(text: str, expected: str) -> None:
    scrubbed, count = scrub(text)
    assert scrubbed == expected
    assert count == expected.count("[") - text.count("[")


@pytest.mark.parametrize(
    "text",
    [
        "In 2024 it cost $1,299.99 (EUR 1.299,00), up from 1 199 in 2019-2020.",
        "Dates: 2024-05-01, 01/02/2024, 05.06.2024, 12/27, at 10:30 or 23:59:59.",
        "Order 12345, invoice 2024-00017, ticket #884213, id 9876543210123, room 0815.",
        "Not a card: 4111 1111 1111 1112 (Luhn fails).",
        "Timestamp 1718035200000 ms, epoch 1718035200, nanoseconds 1718035200000000000.",
        "Version 1.2.3, IP 192.168.1.10, ISBN 978-0-306-40615-7, UUID 123e4567-e89b-12d3-a456-426614174000.",
        "Population 8 336 817; 10 000 users; 1,000,000 dollars; ratio 16:9; scores 21-14-7; 2+2=4; +5 points.",
        "pi is 3.14159265358979, e is 2.718281828459045, avogadro 6.02214076e23.",
        "ZIP 94103, flight LH 0400, call in 15 minutes, extension 1234, a 555-0132 local number.",
        "a task-abcdefghijklmnopqrstuvwxyz id and the email-like user@localhost and foo@bar",
        "Already masked by the recorder: Bearer [redacted] and [redacted].",
    ],
)
def test_false_positive_traps_stay(text: str) -> None:
    assert scrub(text) == (text, 0)


def test_a_realistic_prompt() -> None:
    prompt = (
        "Hi, I'm Jane (jane.doe@acme.io, +1 415-555-0132). My order 48213 from 2024-03-02 was charged "
        "twice to card 4242 4242 4242 4242: $129.99 each. Our integration uses key sk-proj-Zx9ab8Cd7Ef6Gh5Ij4Kl"
        " - please refund one of them by 15 April."
    )
    scrubbed, count = scrub(prompt)
    assert count == 4
    assert scrubbed == (
        "Hi, I'm Jane ([EMAIL], [PHONE]). My order 48213 from 2024-03-02 was charged "
        "twice to card [CARD]: $129.99 each. Our integration uses key [KEY]"
        " - please refund one of them by 15 April."
    )


def test_messages_string_and_text_parts() -> None:
    messages = [
        {"role": "system", "content": "Support bot. Escalate to ops@acme.io."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Call me on 020 7946 0958"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a@b.png"}},
                "and a bare part with bob@example.org",
            ],
        },
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]},
    ]
    scrubbed, count = scrub_messages(messages)
    assert count == 3
    assert scrubbed[0]["content"] == "Support bot. Escalate to [EMAIL]."
    assert scrubbed[1]["content"][0] == {"type": "text", "text": "Call me on [PHONE]"}
    assert scrubbed[1]["content"][1] == messages[1]["content"][1]  # images untouched
    assert scrubbed[1]["content"][2] == "and a bare part with [EMAIL]"
    assert scrubbed[2] == messages[2]
    assert messages[0]["content"] == "Support bot. Escalate to ops@acme.io."  # the input is not changed


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_one_key_rule_shared_with_the_recorder() -> None:
    text = "use sk-proj-abcdefghijklmnopqrstuvwx with Bearer abcdefghijklmnopqrst123"
    assert mask_keys(text, "[KEY]") == ("use [KEY] with Bearer [KEY]", 2)
    assert redact_text(text) == "use [redacted] with Bearer [redacted]"
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----"
    assert redact_text(f"x {pem} y") == "x [redacted] y"
    long_text = "word " * 100 + pem  # the long-text path scans by prefix
    assert redact_text(long_text) == "word " * 100 + "[redacted]"
