"""Settings: flag beats environment beats default."""

from __future__ import annotations

import argparse

import pytest

from server import config


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    s = config.load(parse([]), environ={})
    assert s.http_bind == ("127.0.0.1", 8080)
    assert s.rtmp_bind == ("127.0.0.1", 1935)
    assert s.database_url == "sqlite:///var/notalabel.sqlite3"
    assert s.redis == ""
    assert s.rtmp_url == "rtmp://127.0.0.1:1935/live"


def test_environment_then_flags() -> None:
    env = {"NOTALABEL_HTTP": "0.0.0.0:9000", "NOTALABEL_DATA_DIR": "/tmp/x", "NOTALABEL_COOKIE_SECURE": "true",
           "NOTALABEL_WS_BUFFER": "64"}
    s = config.load(parse([]), environ=env)
    assert s.http_bind == ("0.0.0.0", 9000) and s.base_url == "http://127.0.0.1:9000"
    assert s.cookie_secure is True and s.ws_buffer == 64
    assert s.database_url == "sqlite:////tmp/x/notalabel.sqlite3"
    s = config.load(parse(["--http", "127.0.0.1:7000", "--no-cookie-secure"]), environ=env)
    assert s.http_bind == ("127.0.0.1", 7000) and s.cookie_secure is False


def test_bad_address_is_refused() -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        config.load(parse(["--http", "localhost"]), environ={})
