"""Client field: IP addresses, hostnames, and what is neither."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.parsers.base import ParseError
from stream.parsers.client import check_virtual_host, parse_client


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.31451", "invalid IPv4 address '203.0.113.31451': 31451 is over 255"),
        ("999.1.1.1", "invalid IPv4 address '999.1.1.1': 999 is over 255"),
        ("[999.1.1.1]:80", "invalid IPv4 address '999.1.1.1': 999 is over 255"),
        ("01.02.03.004", "invalid IPv4 address '01.02.03.004': leading zeros are ambiguous"),
        ("1.2.3.4.5", "invalid IPv4 address '1.2.3.4.5': it has 5 dot-separated parts"),
        ("12345", "invalid IPv4 address '12345': it is a bare number"),
    ],
)
def test_parsers_client_rejects_broken_ipv4(text: str, expected: str) -> None:
    with pytest.raises(ParseError) as error:
        parse_client(text)

    assert str(error.value).startswith(expected)
    assert "a hostname is never only digits and dots" in str(error.value)


@pytest.mark.parametrize("text", ["in24.inetnebr.com", "192-0-2-7.dsl.example", "1.2.3.4a", "localhost"])
def test_parsers_client_keeps_hostnames(text: str) -> None:
    client = parse_client(text)

    assert client.address == text
    assert client.ip is None


@given(st.tuples(*[st.integers(0, 255)] * 4))
def test_parsers_client_accepts_every_dotted_quad(octets: tuple[int, int, int, int]) -> None:
    text = ".".join(str(octet) for octet in octets)

    assert parse_client(text).ip == text


@given(st.text(alphabet="0123456789.", min_size=1, max_size=20))
def test_parsers_client_digits_and_dots_never_hostname(text: str) -> None:
    try:
        client = parse_client(text)
    except ParseError:
        return
    assert client.ip is not None


@pytest.mark.parametrize(
    ("vhost", "client"),
    [("shop.example:443", "192.0.2.7"), ("shop.example:443", "client.isp.example"), ("shop.example", "192.0.2.7")],
)
def test_parsers_client_virtual_host_accepted(vhost: str, client: str) -> None:
    check_virtual_host(vhost, parse_client(client))


def test_parsers_client_virtual_host_before_hostname_rejected() -> None:
    with pytest.raises(ParseError) as error:
        check_virtual_host("a", parse_client("b"))

    assert str(error.value).startswith("two fields before ident and user ('a' 'b')")
