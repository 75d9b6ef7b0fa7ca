"""The `make run` banner points the performer at the pages, not at the API (issue 15 item 11)."""

from __future__ import annotations

from server import cli
from server.config import Settings


def test_banner_sends_the_performer_to_the_studio_page() -> None:
    settings = Settings(http="127.0.0.1:8080", rtmp="127.0.0.1:1935")
    text = cli.banner(settings)
    assert f"{settings.base_url}/studio/<room>" in text
    assert f"Sign up at {settings.base_url}/" in text
    assert settings.rtmp_url in text
    assert "POST /api/rooms" not in text and "/api/" not in text.split("API description")[1].split("\n", 1)[1]
