"""Mirror a live LL-HLS playlist and its parts into a directory, for a plain file server.

Follows the origin like a low-latency player (blocking reloads); writes the init segments
and every new part first, then the playlist (to a temporary name, then renamed), so a file
server never lists a part it cannot serve.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urljoin

import aiohttp

from loadtest.media_llhls import parse_playlist


class Mirror:
    def __init__(self, playlist_url: str, directory: Path) -> None:
        self.url = playlist_url
        self.directory = directory
        self.parts = 0
        self.playlist_path = directory / "index.m3u8"

    async def run(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        written: set[str] = set()
        last = (-1, -1)
        async with aiohttp.ClientSession() as http:
            while True:
                query = "" if last[0] < 0 else f"?_HLS_msn={last[0]}&_HLS_part={last[1] + 1}"
                async with http.get(self.url + query) as r:
                    if r.status != 200:
                        await asyncio.sleep(0.1)
                        continue
                    text = await r.text()
                playlist = parse_playlist(text)
                for part in playlist.parts:
                    for uri in (part.map_uri, part.uri):
                        if uri is not None and uri not in written:
                            await self._copy(http, uri)
                            written.add(uri)
                    last = max(last, (part.msn, part.index))
                self._write("index.m3u8", text.encode())

    async def _copy(self, http: aiohttp.ClientSession, uri: str) -> None:
        async with http.get(urljoin(self.url, uri)) as r:
            r.raise_for_status()
            self._write(uri, await r.read())
        self.parts += 1

    def _write(self, name: str, data: bytes) -> None:
        temporary = self.directory / f".{name}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, self.directory / name)
