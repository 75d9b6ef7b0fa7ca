"""Start-up checks of the library internals we touch, one adapter module per library
(STYLE.md, habit 14). Each raises, naming what is missing, when its library changed shape,
so an upgrade fails at start-up instead of misbehaving live:

- aiohttp: server/httpguard.py (our listening site) and rooms/wsio.py (room socket frames);
- aiortc: media/webrtc/taps.py;
- aioice: media/webrtc/ice.py;
- pylibsrtp: media/webrtc/srtp.py.
"""

from __future__ import annotations

from aiohttp import web

from media.webrtc.ice import check_aioice
from media.webrtc.srtp import check_pylibsrtp
from media.webrtc.taps import check_aiortc
from rooms.wsio import check_aiohttp_ws
from server.httpguard import check_aiohttp


def check_libraries(runner: web.BaseRunner) -> None:
    check_aiohttp(runner)
    check_aiohttp_ws()
    check_aiortc()
    check_aioice()
    check_pylibsrtp()
