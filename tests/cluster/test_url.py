"""``--cluster redis://HOST[:PORT][/DB]``: what is accepted, and one-line errors for the rest."""

from __future__ import annotations

import pytest

from adapters.cluster import RedisAddress, RedisUrlError, parse_redis_url


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("redis://127.0.0.1:6380/2", RedisAddress(host="127.0.0.1", port=6380, db=2)),
        ("redis://redis.example", RedisAddress(host="redis.example", port=6379, db=0)),
        ("redis://redis.example/", RedisAddress(host="redis.example", port=6379, db=0)),
        ("redis://[::1]:7000/15", RedisAddress(host="::1", port=7000, db=15)),
        ("REDIS://Redis.Example:1", RedisAddress(host="redis.example", port=1, db=0)),
        ("redis://rédis.example", RedisAddress(host="rédis.example", port=6379, db=0)),
        (f"redis://{'a' * 63}.test", RedisAddress(host=f"{'a' * 63}.test", port=6379, db=0)),
        ("  redis://h:65535/0\n", RedisAddress(host="h", port=65535, db=0)),
    ],
)
def test_accepted(url: str, address: RedisAddress) -> None:
    assert parse_redis_url(url) == address


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("127.0.0.1:6379", "expected redis://HOST:PORT[/DB]"),
        ("rediss://h:6379", "the scheme must be redis://, not rediss://"),
        ("http://h", "the scheme must be redis://, not http://"),
        ("redis://", "the host is missing"),
        ("redis://:6379", "the host is missing"),
        ("redis://h:0", "the port must be a number from 1 to 65535"),
        ("redis://h:65536", "the port must be a number from 1 to 65535"),
        ("redis://h:port", "the port must be a number from 1 to 65535"),
        ("redis://h:", "the port must be a number from 1 to 65535"),
        ("redis://h/x", "the database must be a number, not 'x'"),
        ("redis://h/-1", "the database must be a number, not '-1'"),
        ("redis://h/1/2", "the database must be a number, not '1/2'"),
        ("redis://h/1234567890", "the database must be a number, not '1234567890'"),
        ("redis://h/\u0663", "the database must be a number, not '\u0663'"),
        ("redis://user:secret@h", "passwords and user names are not supported"),
        ("redis://h?db=1", "a query or fragment is not supported"),
        ("redis://h#x", "a query or fragment is not supported"),
        ("redis://h?", "a query or fragment is not supported"),
        ("redis://[zz]:1", "the host is not a valid address"),
        ("redis://[1.2.3.4]:1", "the host is not a valid address"),
        ("redis://[v1.x]:1", "v1.x is not an IPv6 address"),
        ("redis://h: 1", "it contains spaces or control characters"),
        (f"redis://{'a' * 64}.test", f"{'a' * 64}.test is not a host name (a label is empty or too long)"),
        ("redis://a..test:1", "a..test is not a host name (a label is empty or too long)"),
        ("redis://h\n:1", "it contains spaces or control characters"),
    ],
)
def test_refused_with_one_line_naming_the_url(url: str, reason: str) -> None:
    with pytest.raises(RedisUrlError) as caught:
        parse_redis_url(url)
    message = str(caught.value)
    assert message == f"invalid cluster URL {url.strip()!r}: {reason}"
    assert "\n" not in message


def test_an_address_prints_as_a_full_url() -> None:
    assert str(parse_redis_url("redis://h")) == "redis://h:6379/0"
    assert str(parse_redis_url("redis://[::1]:7/3")) == "redis://[::1]:7/3"
