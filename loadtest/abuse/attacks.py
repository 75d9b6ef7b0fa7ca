"""The attacks of issue 16, one coroutine each, run in a process of their own.

Each ``attack(ctx, seconds)`` runs for about ``seconds`` (bounded in count too), only
against the loopback server named in ``ctx``, and returns a dict:

* ``requests``: attack requests (or connections, frames) sent;
* ``outcomes``: how each was answered, ``"201"`` or ``"429 rate_limited"`` and the like
  (see :func:`loadtest.abuse.net.outcome`);
* ``checks``: named yes/no facts the attack must leave true (``{"whip_still_publishes": True}``);
* ``notes``: one line for the report.

Attackers bind to their own loopback addresses (:func:`loadtest.abuse.net.attacker_address`),
so the server's per-address limits stay on and the probe (127.0.0.1) is someone else.
Restream targets are saved on a room that is not live; it goes live only when every target
the server saved is named ``localhost``, so nothing can be dialled but loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgpack

from loadtest.abuse.net import attacker_address, bearer, client, outcome

Ctx = dict[str, Any]
Result = dict[str, Any]
Attack = Callable[[Ctx, float], Awaitable[Result]]


def result(requests: int, outcomes: Tally[str], checks: dict[str, bool] | None = None, notes: str = "") -> Result:
    return {"requests": requests, "outcomes": dict(outcomes), "checks": checks or {}, "notes": notes}


def ws_url(ctx: Ctx, slug: str, query: str = "") -> str:
    return ctx["base"].replace("http://", "ws://") + f"/ws/rooms/{slug}" + (f"?{query}" if query else "")


async def _until(seconds: float) -> Callable[[], bool]:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    return lambda: loop.time() < end


async def _read_replies(ws: aiohttp.ClientWebSocketResponse, tally: Tally[str]) -> None:
    """Count a chatting socket's acks and errors (by code) until it closes."""
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            event = json.loads(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            event = msgpack.unpackb(msg.data)
        else:
            continue
        if event.get("type") == "ack":
            tally["ack"] += 1
        elif event.get("type") == "error":
            tally[f"error {event.get('code')}"] += 1


async def _chat_flood(ctx: Ctx, slug: str, tokens: list[str], seconds: float, rate: float,
                      frame: Callable[[int, int], str | bytes], protocols: tuple[str, ...] = (),
                      base_address: int = 0) -> tuple[int, Tally[str]]:
    """Every token's socket sends ``frame(who, n)`` ``rate`` times a second for ``seconds``."""
    tally: Tally[str] = Tally()
    sent = 0
    running = await _until(seconds)

    async def one(i: int, token: str) -> None:
        nonlocal sent
        async with client(attacker_address(base_address + i), timeout=None) as http:
            async with http.ws_connect(ws_url(ctx, slug, f"token={token}"), protocols=protocols) as ws:
                reader = asyncio.create_task(_read_replies(ws, tally))
                n = 0
                while running():
                    data = frame(i, n)
                    await (ws.send_bytes(data) if isinstance(data, bytes) else ws.send_str(data))
                    sent, n = sent + 1, n + 1
                    await asyncio.sleep(1 / rate)
                await asyncio.sleep(0.5)  # the last replies
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
    return sent, tally


# --- 1. blocked terms that would backtrack, and long messages ---------------------------------


def adversarial_terms(count: int) -> list[str]:
    """Terms with the most '*' the server allows: a backtracking matcher's worst case."""
    return [f"a*a*a*a*{i:03d}b" for i in range(count)]


async def blocked_terms(ctx: Ctx, seconds: float) -> Result:
    tally: Tally[str] = Tally()
    requests = 0
    async with client(attacker_address(0), timeout=None) as http, \
            http.ws_connect(ws_url(ctx, ctx["a_slug"], f"token={ctx['a_owner_token']}")) as ws:
        await ws.receive_json(timeout=10)  # snapshot
        for n, terms in enumerate((["*" * 60 + "x"], ["a" * 20 + "*"] * 300, adversarial_terms(150))):
            await ws.send_str(json.dumps({"op": "room.settings", "id": f"t{n}", "blocked_terms": terms}))
            requests += 1
            while (reply := await ws.receive_json(timeout=10)).get("id") != f"t{n}":
                pass
            tally[f"settings {reply['type']}" + (f" {reply.get('code')}" if reply["type"] == "error" else "")] += 1
        long_text = "a" * 499 + "!"
        sent, chat = await _chat_flood(ctx, ctx["a_slug"], [ctx["a_owner_token"], *ctx["fan_tokens"]], seconds,
                                       rate=2.0, base_address=1,
                                       frame=lambda i, n: json.dumps({"op": "chat.send", "id": n, "text": long_text}))
    tally.update({f"chat {k}": v for k, v in chat.items()})
    return result(requests + sent, tally,
                  {"over_bound_terms_refused": tally.get("settings error bad_terms", 0) >= 1,
                   "long_messages_answered": chat.get("ack", 0) > 0},
                  f"{len(ctx['fan_tokens']) + 1} chatters x 2 msg/s of 500 chars vs 150 terms 'a*a*a*a*NNNb'")


# --- 2. lone surrogates -----------------------------------------------------------------------


async def _join_ok(ctx: Ctx, address: str) -> bool:
    async with client(address, timeout=10) as http:
        try:
            async with http.ws_connect(ws_url(ctx, ctx["probe_slug"])) as ws:
                first = await ws.receive_json(timeout=5)
                return first.get("type") == "snapshot"
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False


async def lone_surrogates(ctx: Ctx, seconds: float) -> Result:
    tokens = ctx["fan_tokens"][:4]

    def msgpack_frame(i: int, n: int) -> str | bytes:  # a str whose bytes are an encoded surrogate
        return (b"\x83" + msgpack.packb("op") + msgpack.packb("chat.send") + msgpack.packb("id")
                + msgpack.packb(n) + msgpack.packb("text") + b"\xa3\xed\xa0\x80")

    def json_frame(i: int, n: int) -> str | bytes:
        return '{"op":"chat.send","id":' + str(n) + ',"text":"hi \\ud800 there"}'

    joins: Tally[str] = Tally()

    async def keep_joining() -> None:
        running = await _until(seconds)
        while running():
            joins["join ok" if await _join_ok(ctx, attacker_address(20)) else "join failed"] += 1
            await asyncio.sleep(0.3)

    (mp_sent, mp), (js_sent, js), _ = await asyncio.gather(
        _chat_flood(ctx, ctx["probe_slug"], tokens[:1], seconds, 2.0, msgpack_frame, ("nal.v1.msgpack",),
                    base_address=10),
        _chat_flood(ctx, ctx["probe_slug"], tokens[1:], seconds, 2.0, json_frame, base_address=11),
        keep_joining(),
    )
    tally = mp + js + joins
    return result(mp_sent + js_sent, tally,
                  {"surrogates_refused": mp_sent + js_sent > 0 and tally.get("ack", 0) == 0,
                   "joins_still_succeed": joins.get("join ok", 0) > 0 and joins.get("join failed", 0) == 0},
                  f"{len(tokens)} fans x 2 frames/s with lone surrogates (JSON and MessagePack); a guest joins every 0.3 s")


# --- 3. wrong passwords -----------------------------------------------------------------------


async def wrong_passwords(ctx: Ctx, seconds: float, clients: int = 5, concurrency: int = 3) -> Result:
    tally: Tally[str] = Tally()
    sent = 0
    running = await _until(seconds)

    async def worker(http: aiohttp.ClientSession, c: int, w: int) -> None:
        nonlocal sent
        n = 0
        while running() and n < 400:
            user = ctx["victim"] if n % 2 == 0 else f"nobody{c}x{w}x{n}"
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.post(ctx["base"] + "/api/sessions",
                                     json={"username": user, "password": f"wrong guess {n}"}) as answer:
                    tally[await outcome(answer)] += 1
            sent, n = sent + 1, n + 1

    async def one_client(c: int) -> None:
        async with client(attacker_address(30 + c)) as http:
            await asyncio.gather(*(worker(http, c, w) for w in range(concurrency)))

    await asyncio.gather(*(one_client(c) for c in range(clients)))
    throttled = sum(v for k, v in tally.items() if k.startswith("429"))
    return result(sent, tally, {"throttled_with_429": throttled > 0, "none_accepted": tally.get("200", 0) == 0},
                  f"{clients} addresses x {concurrency} at once, the victim and unknown names in turn")


# --- 4. never-connecting WHEP offers, then a WHIP publish -------------------------------------


async def _offer(kind: str) -> str:
    """An SDP offer with loopback candidates only; the peer connection is closed at once."""
    from aiortc import RTCPeerConnection  # noqa: PLC0415 - heavy, only for the WebRTC phases

    from media.webrtc.config import WebRtcSettings  # noqa: PLC0415
    from media.webrtc.ice import apply_ice_policy, new_peer_connection  # noqa: PLC0415

    loopback = WebRtcSettings(host_addresses=("127.0.0.1",))
    pc: RTCPeerConnection = new_peer_connection(loopback)
    direction = "sendonly" if kind == "whip" else "recvonly"
    pc.addTransceiver("video", direction=direction)
    pc.addTransceiver("audio", direction=direction)
    apply_ice_policy(pc, loopback)
    await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    await pc.close()
    return sdp


async def _post_sdp(http: aiohttp.ClientSession, url: str, sdp: str, key: str | None = None) -> tuple[str, str | None]:
    headers = {"Content-Type": "application/sdp", **(bearer(key) if key else {})}
    try:
        async with http.post(url, data=sdp, headers=headers) as answer:
            return await outcome(answer), answer.headers.get("Location")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__, None


async def _whip_publish(ctx: Ctx, address: str, key: str) -> str:
    """POST a WHIP offer with ``key`` to room C; delete the session if it was made."""
    async with client(address) as http:
        got, location = await _post_sdp(http, f"{ctx['base']}/whip/{ctx['c_slug']}", await _offer("whip"), key)
        if location:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.delete(ctx["base"] + location, headers=bearer(key)):
                    pass
        return got


async def whep_flood(ctx: Ctx, seconds: float, addresses: int = 8, per_address: int = 12) -> Result:
    tally: Tally[str] = Tally()
    offer = await _offer("whep")
    url = f"{ctx['base']}/whep/{ctx['probe_slug']}"
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def one_address(a: int) -> None:
        async with client(attacker_address(40 + a)) as http:
            for _ in range(per_address):
                tally[(await _post_sdp(http, url, offer))[0]] += 1

    await asyncio.gather(*(one_address(a) for a in range(addresses)))
    whip = await _whip_publish(ctx, attacker_address(60), ctx["c_key"])
    tally[f"whip {whip}"] += 1
    await asyncio.sleep(max(0.0, began + seconds - loop.time()))
    # the sessions that never connect are dropped after --webrtc-connect-timeout-s: that
    # clean-up is part of this attack, so the phase lasts until it is done (at most 30 s more)
    async def all_gone() -> bool:
        return await _webrtc_sessions(ctx) == 0

    await _wait(all_gone, 30.0)
    refused_for_capacity = whip.startswith("503")
    return result(addresses * per_address + 1, tally,
                  {"whep_capped": sum(v for k, v in tally.items() if k[:3] in ("429", "503")) > 0,
                   "whip_still_publishes": whip == "201", "whip_not_refused_for_capacity": not refused_for_capacity},
                  f"{addresses * per_address} WHEP offers that never connect from {addresses} addresses, then one WHIP with the key")


async def _webrtc_sessions(ctx: Ctx) -> float:
    """Open WHIP and WHEP sessions on the server (the ``nal_webrtc_sessions`` gauge)."""
    async with client(attacker_address(61)) as http, http.get(ctx["base"] + "/metrics") as answer:
        text = await answer.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("nal_webrtc_sessions{"))


# --- 5. restream targets aimed inside --------------------------------------------------------


def inside_targets(ctx: Ctx) -> list[str]:
    return [f"rtmp://127.0.0.1:{ctx['rtmp_port']}/live/x", f"rtmp://localhost:{ctx['http_port']}/live/x",
            "rtmp://10.0.0.1/live/x", "rtmp://192.168.1.1/live/x", "rtmp://172.16.0.1/live/x",
            "rtmp://100.64.0.1/live/x", "rtmp://169.254.169.254/latest/x", "rtmp://[fe80::1]/live/x",
            "rtmp://[::1]:1935/live/x", "rtmp://2130706433/live/x", "rtmp://0x7f000001/live/x",
            "rtmp://0177.0.0.1/live/x", "rtmp://224.0.0.1/live/x", "rtmp://0.0.0.0:1935/live/x",
            "rtmps://127.0.0.1:443/live/x", "rtmp://[::ffff:127.0.0.1]/live/x"]


async def restream_targets(ctx: Ctx, seconds: float) -> Result:
    """Save targets aimed inside, in a loop, on a room that is not live. A target the server
    saves must be a host name it resolves only when connecting; the one such name here is
    ``localhost`` (loopback on any machine), so the room then goes live for a few seconds to
    see that the connection is refused too."""
    tally: Tally[str] = Tally()
    sent = 0
    running = await _until(max(1.0, seconds - 6))
    url = f"{ctx['base']}/api/rooms/{ctx['d_slug']}/restreams"
    saved: set[str] = set()
    async with client(attacker_address(70)) as http:
        while running() and sent < 2000:
            for target in inside_targets(ctx):
                async with http.post(url, json={"platform": "custom", "url": target, "key": "k"},
                                     headers=bearer(ctx["d_owner_token"])) as answer:
                    got = await outcome(answer)
                    tally[f"saved {target}" if got == "201" else got] += 1
                    if answer.status == 201:  # take it off again: the room is not live
                        saved.add(target)
                        async with http.delete(f"{url}/{(await answer.json())['id']}", headers=bearer(ctx["d_owner_token"])):
                            pass
                sent += 1
            await asyncio.sleep(0.05)
        checks = {"literal_addresses_refused": all("://localhost:" in t for t in saved)}
        if saved and checks["literal_addresses_refused"]:
            checks["refused_when_connecting"] = await _connect_refused(ctx, http, url, sorted(saved)[0], tally)
    return result(sent, tally, checks,
                  f"{len(inside_targets(ctx))} loopback/private/metadata/own-port URLs, in a loop")


async def _connect_refused(ctx: Ctx, http: aiohttp.ClientSession, url: str, target: str, tally: Tally[str]) -> bool:
    """Save ``target`` (a name for loopback), go live in its room, see the relay refuse to dial it."""
    async with http.post(url, json={"platform": "custom", "url": target, "key": "k"},
                         headers=bearer(ctx["d_owner_token"])) as answer:
        target_id = (await answer.json())["id"]
    publisher = ffmpeg_publish(f"{ctx['rtmp']}/{ctx['d_key']}", 30)
    try:
        async def refused_at_connect() -> bool:
            async with http.get(ctx["base"] + "/metrics") as answer:
                text = await answer.text()
            return any(line.startswith('nal_relay_destination_refused_total{') and 'stage="connect"' in line
                       and not line.endswith(" 0.0") for line in text.splitlines())

        refused_ = await _wait(refused_at_connect, 15.0)
        async with http.get(url, headers=bearer(ctx["d_owner_token"])) as answer:
            status = next((t.get("status") for t in (await answer.json())["restreams"] if t["id"] == target_id), None)
        reason = status.get("reason") if isinstance(status, dict) else status
        tally[f"live with a localhost target: {reason}"] += 1
        return refused_
    finally:
        _stop(publisher)
        async with http.delete(f"{url}/{target_id}", headers=bearer(ctx["d_owner_token"])):
            pass


# --- 6. an empty ?token= from another origin ---------------------------------------------------


async def empty_token(ctx: Ctx, seconds: float) -> Result:
    tally: Tally[str] = Tally()
    sent = 0
    running = await _until(seconds)
    headers = {"Origin": "http://evil.example", "Cookie": f"nal_session={ctx['fan_tokens'][0]}"}
    async with client(attacker_address(80)) as http:
        while running() and sent < 2000:
            for query in ("token=", "token", ""):
                try:
                    async with http.ws_connect(ws_url(ctx, ctx["probe_slug"], query), headers=headers) as ws:
                        tally[f"upgraded ?{query}"] += 1
                        await ws.close()
                except aiohttp.WSServerHandshakeError as exc:
                    tally[f"{exc.status} ?{query}"] += 1
                sent += 1
            await asyncio.sleep(0.05)
    upgraded = sum(v for k, v in tally.items() if k.startswith("upgraded"))
    return result(sent, tally, {"none_upgraded": upgraded == 0},
                  "room socket upgrades with Origin evil.example, a session cookie and ?token= empty / bare / absent")


# --- 7. slowloris ------------------------------------------------------------------------------


async def _slow_connection(ctx: Ctx, address: str, running: Callable[[], bool], body: bool, tally: Tally[str]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", ctx["http_port"], local_addr=(address, 0))
    except OSError as exc:
        tally[f"connect {type(exc).__name__}"] += 1
        return
    try:
        if body:
            writer.write(b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{")
        else:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        while running():
            try:
                head = await asyncio.wait_for(reader.read(200), 2.0)
            except TimeoutError:
                writer.write(b" " if body else b"X-Slow: 1\r\n")
                continue
            status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "closed"
            tally[f"{'body' if body else 'head'} {status}"] += 1
            return
        tally[f"{'body' if body else 'head'} still open"] += 1
    except (ConnectionError, OSError):
        tally[f"{'body' if body else 'head'} reset"] += 1
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def slowloris(ctx: Ctx, seconds: float, connections: int = 150, bodies: int = 10) -> Result:
    tally: Tally[str] = Tally()
    running = await _until(seconds)
    await asyncio.gather(*(_slow_connection(ctx, attacker_address(90), running, False, tally) for _ in range(connections)),
                         *(_slow_connection(ctx, attacker_address(91), running, True, tally) for _ in range(bodies)))
    timed_out = sum(v for k, v in tally.items() if k.endswith("408"))
    capped = sum(v for k, v in tally.items() if k.endswith("429"))
    return result(connections + bodies, tally, {"timed_out_408": timed_out > 0, "capped_429": capped > 0},
                  f"{connections} half-open heads from one address, {bodies} slow bodies from another")


# --- 8. guest sockets from one address ---------------------------------------------------------


async def guest_sockets(ctx: Ctx, seconds: float, sockets: int = 40) -> Result:
    tally: Tally[str] = Tally()
    held: list[aiohttp.ClientWebSocketResponse] = []
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with client(attacker_address(100), limit=0, timeout=None) as http:
        for _ in range(sockets):
            try:
                ws = await http.ws_connect(ws_url(ctx, ctx["probe_slug"]))
                held.append(ws)
                tally["101"] += 1
            except aiohttp.WSServerHandshakeError as exc:
                tally[str(exc.status)] += 1
        await asyncio.sleep(max(0.0, began + seconds - loop.time()))
        for ws in held:
            await ws.close()
    return result(sockets, tally, {"capped": tally.get("429", 0) > 0},
                  f"{sockets} guest room sockets from one address, held")


# --- 9. key rotation ends the old publisher ----------------------------------------------------


def ffmpeg_publish(url: str, seconds: float) -> subprocess.Popen[bytes]:
    """ffmpeg as OBS: a small test picture and a tone, H.264 + AAC over RTMP in real time."""
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", "testsrc=size=320x180:rate=15", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
         "-t", f"{seconds:.0f}", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv", url],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def _state(http: aiohttp.ClientSession, ctx: Ctx, slug: str) -> str:
    async with http.get(f"{ctx['base']}/api/rooms/{slug}/stream") as answer:
        return str((await answer.json()).get("state"))


async def _wait(check: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)
    return False


async def key_rotation(ctx: Ctx, seconds: float) -> Result:
    tally: Tally[str] = Tally()
    loop = asyncio.get_running_loop()
    began = loop.time()
    old = ffmpeg_publish(f"{ctx['rtmp']}/{ctx['b_key']}", seconds + 30)
    again: subprocess.Popen[bytes] | None = None
    checks = {"went_live": False, "rotation_ended_stream": False, "old_publisher_cut": False,
              "old_key_refused": False}
    try:
        async with client(attacker_address(110)) as http:
            async def live() -> bool:
                return await _state(http, ctx, ctx["b_slug"]) == "live"

            checks["went_live"] = await _wait(live, min(20.0, seconds))
            async with http.post(f"{ctx['base']}/api/rooms/{ctx['b_slug']}/stream-key",
                                 headers=bearer(ctx["b_owner_token"])) as answer:
                tally[f"rotate {await outcome(answer)}"] += 1
                body = await answer.json() if answer.status == 200 else {}
            checks["rotation_ended_stream"] = bool(body.get("stream_ended"))

            async def cut() -> bool:
                return old.poll() is not None and not await live()

            checks["old_publisher_cut"] = await _wait(cut, 10.0)
            again = ffmpeg_publish(f"{ctx['rtmp']}/{ctx['b_key']}", seconds)  # the old key once more
            checks["old_key_refused"] = await _wait(lambda: _done(again), 10.0) and not await live()
            code = again.poll()
            tally["old key republish refused" if code else f"old key republish exit {code}"] += 1
            if body.get("stream_key"):
                ctx["b_key"] = body["stream_key"]
    finally:
        _stop(old)
        if again is not None:
            _stop(again)
    await asyncio.sleep(max(0.0, began + seconds - loop.time()))
    return result(2, tally, checks, "a second room live over RTMP, its key rotated, the old key tried again")


async def _done(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is not None


# --- 10. stream key guessing -------------------------------------------------------------------


async def key_guessing(ctx: Ctx, seconds: float, whip_guesses: int = 30, rtmp_guesses: int = 30) -> Result:
    from media.rtmp.client import RtmpPublisher  # noqa: PLC0415

    tally: Tally[str] = Tally()
    loop = asyncio.get_running_loop()
    began = loop.time()
    guesser = attacker_address(120)
    async with client(guesser) as http:
        offer = await _offer("whip")
        for n in range(whip_guesses):
            got, _ = await _post_sdp(http, f"{ctx['base']}/whip/{ctx['c_slug']}", offer, f"live_guess{n:04d}")
            tally[f"whip {got}"] += 1
    right_from_guesser = await _whip_publish(ctx, guesser, ctx["c_key"])
    right_from_other = await _whip_publish(ctx, attacker_address(121), ctx["c_key"])
    tally[f"whip right key, guesser: {right_from_guesser}"] += 1
    tally[f"whip right key, other address: {right_from_other}"] += 1
    for n in range(rtmp_guesses):  # RTMP from 127.0.0.1: our client cannot choose its address
        if loop.time() > began + seconds:
            break
        publisher = RtmpPublisher(f"{ctx['rtmp']}/live_guess{n:04d}", timeout=5)
        try:
            await publisher.connect()
            tally["rtmp accepted"] += 1
        except Exception as exc:  # noqa: BLE001 - every kind of refusal is an outcome
            tally[f"rtmp {type(exc).__name__}"] += 1
        finally:
            with contextlib.suppress(Exception):
                await publisher.close()
    await asyncio.sleep(max(0.0, began + seconds - loop.time()))
    return result(whip_guesses + rtmp_guesses + 2, tally,
                  {"whip_guesses_throttled": any(k.startswith("whip 429") for k in tally),
                   "right_key_elsewhere_works": right_from_other == "201",
                   "no_rtmp_guess_accepted": tally.get("rtmp accepted", 0) == 0},
                  f"{whip_guesses} WHIP and up to {rtmp_guesses} RTMP wrong keys; then the right WHIP key")


# --- 11. sign-up, room and catalog spam ---------------------------------------------------------


async def spam(ctx: Ctx, seconds: float, signups: int = 30, rooms: int = 30) -> Result:
    """Sign-ups from one address and rooms by one account at once, each until its count (past
    the quotas) or five times ``seconds``: every sign-up under the quota is an argon2 hash, and
    on a busy machine 20 of them take longer than one phase."""
    tally: Tally[str] = Tally()
    running = await _until(5 * seconds)
    run = f"{random.getrandbits(24):06x}"
    sent = 0

    async def sign_ups(http: aiohttp.ClientSession, first: int) -> None:
        nonlocal sent
        for n in range(first, signups, 3):
            if running():
                await _post(http, tally, "signup", ctx["base"] + "/api/accounts",
                            {"username": f"spam{run}n{n}", "password": "spam load password"})
                sent += 1

    async def new_rooms(http: aiohttp.ClientSession) -> None:
        nonlocal sent
        for _ in range(rooms):
            if running():
                await _post(http, tally, "room", ctx["base"] + "/api/rooms", {"title": "spam"}, ctx["spam_token"])
                sent += 1

    async with client(attacker_address(130)) as http:
        await asyncio.gather(*(sign_ups(http, w) for w in range(3)), new_rooms(http))
        async with http.get(ctx["base"] + "/api/rooms") as answer:
            tally[f"room list {await outcome(answer)}"] += 1
    return result(sent + 1, tally,
                  {"signups_limited": any(k.startswith("signup 429") for k in tally),
                   "rooms_limited": any(k.startswith(("room 429", "room 409")) for k in tally)},
                  f"{signups} sign-ups from one address (3 at a time) and {rooms} rooms by one account, at once")


async def catalog(ctx: Ctx, seconds: float, songs: int = 1100, concurrency: int = 4) -> Result:
    """A catalog filled past its cap by its owner, and a page far larger than allowed asked for.
    The phase runs until the ``songs`` are sent (past the default cap of 1000), at most twice ``seconds``."""
    tally: Tally[str] = Tally()
    running = await _until(2 * seconds)
    url = f"{ctx['base']}/api/rooms/{ctx['d_slug']}/songs"
    sent = 0

    async def worker(http: aiohttp.ClientSession, first: int) -> None:
        nonlocal sent
        for n in range(first, songs, concurrency):
            if running():
                await _post(http, tally, "song", url, {"title": f"Song {n}", "artist": "Spam"}, ctx["d_owner_token"])
                sent += 1

    async with client(attacker_address(140)) as http:
        await asyncio.gather(*(worker(http, w) for w in range(concurrency)))
        async with http.get(url, params={"limit": "100000"}) as answer:
            tally[f"songs ?limit=100000 {await outcome(answer)}"] += 1
        async with http.get(url) as answer:
            page = await answer.json()
            tally[f"songs page of {len(page.get('songs', []))}"] += 1
    return result(sent + 2, tally,
                  {"catalog_capped": any(k.startswith("song 409") for k in tally),
                   "catalog_paged": any(k.startswith("songs page of") and int(k.rsplit(" ", 1)[1]) <= 200 for k in tally)},
                  f"up to {songs} songs by the owner, {concurrency} at once")


async def _post(http: aiohttp.ClientSession, tally: Tally[str], what: str, url: str, body: dict[str, Any],
                token: str = "") -> None:
    try:
        async with http.post(url, json=body, headers=bearer(token) if token else {}) as answer:
            tally[f"{what} {await outcome(answer)}"] += 1
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally[f"{what} {type(exc).__name__}"] += 1


ATTACKS: dict[str, Attack] = {
    "blocked_terms": blocked_terms,
    "lone_surrogates": lone_surrogates,
    "wrong_passwords": wrong_passwords,
    "whep_flood": whep_flood,
    "restream_ssrf": restream_targets,
    "empty_token": empty_token,
    "slowloris": slowloris,
    "guest_sockets": guest_sockets,
    "key_rotation": key_rotation,
    "key_guessing": key_guessing,
    "spam": spam,
    "catalog": catalog,
}
"""Phase name -> attack, in the order they run."""


def run_in_process(name: str, ctx: Ctx, seconds: float, out: Any) -> None:
    """Entry point of the attack process: run one attack, put its result (or error) on ``out``."""
    async def go() -> Result:
        return await ATTACKS[name](ctx, seconds)

    if ctx.get("attacker_nice") is not None:  # see loadtest.abuse.run: the attacker is not the server's guest
        os.setpriority(os.PRIO_PROCESS, 0, int(ctx["attacker_nice"]))

    try:
        try:
            import uvloop  # noqa: PLC0415

            res = uvloop.run(go())
        except ImportError:  # pragma: no cover - uvloop is a dependency
            res = asyncio.run(go())
        out.put({"ok": True, **res, "ctx": ctx})
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        out.put({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
