"""Debian's nginx on a free loopback port, one process (``daemon off``, ``master_process off``):

* :func:`start_nginx`, the file-server reference: a directory over plain HTTP, access log off,
  sendfile on, keep-alive, the same content types and cache headers as our LL-HLS handler;
* :func:`start_cache`, the CDN stand-in: ``proxy_cache`` in front of one server, caching what
  the upstream's ``Cache-Control`` allows, keyed on the full request URI (each blocking
  playlist reload is its own entry), with ``proxy_cache_lock`` so that one request per key
  reaches the upstream while the others wait for its answer."""

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
    return _launch(nginx, root, port, CONFIG.format(root=root, port=port))


def _launch(nginx: str, root: Path, port: int, config_text: str) -> Started:
    """Start nginx on ``config_text`` (listening on ``port``), ready once ``/healthz`` answers."""
    config = root / "nginx.conf"
    config.write_text(config_text)
    log = root / "nginx.out"
    with open(log, "ab") as out:
        proc = subprocess.Popen([nginx, "-c", str(config), "-p", str(root)], stdout=out,
                                stderr=subprocess.STDOUT)
    started = Started(f"http://127.0.0.1:{port}", proc, log)
    wait_ready(started, "/healthz")
    return started


def cache_config(root: Path, port: int, upstream: str, *, access_log: bool = True) -> str:
    """The CDN stand-in's configuration (see the module docstring)."""
    log = f"access_log {root}/access.log;" if access_log else "access_log off;"
    return f"""
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    {log}
    keepalive_requests 1000000;
    client_body_temp_path {root}/tmp/body; proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi; uwsgi_temp_path {root}/tmp/uwsgi; scgi_temp_path {root}/tmp/scgi;
    proxy_cache_path {root}/cache levels=1:2 keys_zone=hls:10m max_size=256m inactive=10m use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream.rstrip("/")};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache hls;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 30s;
            proxy_cache_lock_age 30s;
            proxy_read_timeout 30s;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
}}
"""


def start_cache(root: Path, upstream: str) -> Started:
    """nginx ``proxy_cache`` in front of ``upstream``; ready once the upstream's ``/healthz``
    answers through it (not cached: it carries no max-age)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    return _launch(nginx, root, port, cache_config(root, port, upstream, access_log=False))
