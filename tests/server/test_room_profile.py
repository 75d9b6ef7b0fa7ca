"""The room's description and image over HTTP, on SQLite and PostgreSQL: only the owner sets
them; an image is typed by its bytes (PNG, JPEG, WebP), never by what the client says; anything
else, or more than 1,000,000 bytes, is refused and counted; fans read it back as it was sent."""

from __future__ import annotations

from typing import Any

from tests.static.test_offline_state import png
from tests.support.api import make_room, signup_login


async def test_description_and_image(api: Any) -> None:
    owner = await signup_login(api, "maya")
    fan = await signup_login(api, "fan1")
    room = await make_room(api, owner, "Pictured")
    slug = room["slug"]
    assert room["image_url"] is None and room["description"] == ""

    r = await api.patch(f"/api/rooms/{slug}", json={"description": "Folk.\nSundays at eight."}, headers=owner)
    assert r.status == 200 and (await r.json())["description"] == "Folk.\nSundays at eight."
    r = await api.patch(f"/api/rooms/{slug}", json={"description": "x" * 2001}, headers=owner)
    assert r.status == 400
    r = await api.patch(f"/api/rooms/{slug}", json={"description": "mine now"}, headers=fan)
    assert r.status == 403

    image = png(8, 8, (1, 2, 3))
    r = await api.put(f"/api/rooms/{slug}/image", data=image, headers={**owner, "Content-Type": "text/html"})
    assert r.status == 200
    url = (await r.json())["image_url"]
    assert f"/api/rooms/{slug}/image?v=" in url
    r = await api.get(f"/api/rooms/{slug}")
    assert (await r.json())["image_url"] == url and (await r.json())["description"] == "Folk.\nSundays at eight."
    r = await api.get(f"/api/rooms/{slug}/image")
    assert r.status == 200 and r.headers["Content-Type"] == "image/png" and await r.read() == image
    assert r.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in r.headers["Content-Security-Policy"]

    r = await api.put(f"/api/rooms/{slug}/image", data=b"<svg onload=alert(1)>", headers=owner)
    assert r.status == 400 and (await r.json())["error"] == "bad_image"
    r = await api.put(f"/api/rooms/{slug}/image", data=bytes(1_000_001), headers=owner)
    assert r.status == 413
    r = await api.put(f"/api/rooms/{slug}/image", data=png(4, 4, (9, 9, 9)), headers=fan)
    assert r.status == 403
    r = await api.get(f"/api/rooms/{slug}/image")
    assert await r.read() == image  # nothing refused replaced it
    metrics = await (await api.get("/metrics")).text()
    assert 'nal_bad_input_total{kind="bad_image"}' in metrics

    jpeg = b"\xff\xd8\xff\xe0" + bytes(32)
    r = await api.put(f"/api/rooms/{slug}/image", data=jpeg, headers=owner)
    assert r.status == 200 and (await r.json())["image_url"] != url
    r = await api.get(f"/api/rooms/{slug}/image")
    assert r.headers["Content-Type"] == "image/jpeg"

    r = await api.delete(f"/api/rooms/{slug}/image", headers=fan)
    assert r.status == 403
    r = await api.delete(f"/api/rooms/{slug}/image", headers=owner)
    assert r.status == 204
    r = await api.get(f"/api/rooms/{slug}/image")
    assert r.status == 404
    r = await api.get("/api/rooms")
    assert next(x for x in (await r.json())["rooms"] if x["slug"] == slug)["image_url"] is None
