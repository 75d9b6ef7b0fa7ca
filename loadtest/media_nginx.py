"""nginx serving a directory over plain HTTP on a free loopback port, as the file-server
reference: one process (``daemon off``, ``master_process off``), access log off, sendfile on,
keep-alive, the same content types and cache headers as our LL-HLS handler."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from loadtest.servers import Started, free_port, wait_ready

CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    types {{
        application/vnd.apple.mpegurl m3u8;
        video/mp4 mp4 m4s;
    }}
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location ~ \\.m3u8$ {{ add_header Cache-Control no-cache; add_header Access-Control-Allow-Origin *; }}
        location / {{ add_header Cache-Control "public, max-age=31536000, immutable"; add_header Access-Control-Allow-Origin *; }}
    }}
}}
"""


def start_nginx(root: Path) -> Started:
    """Serve ``root/www``; health is checked on ``/healthz`` (a file written here)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    (root / "www").mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "www" / "healthz").write_text("ok\n")
    port = free_port()
    config = root / "nginx.conf"
    config.write_text(CONFIG.format(root=root, port=port))
    log = root / "nginx.out"
    with open(log, "ab") as out:
        proc = subprocess.Popen([nginx, "-c", str(config), "-p", str(root)], stdout=out,
                                stderr=subprocess.STDOUT)
    started = Started(f"http://127.0.0.1:{port}", proc, log)
    wait_ready(started, "/healthz")
    return started
