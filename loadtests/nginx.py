"""nginx as the reference proxy of the HTTP rows: ``proxy_pass`` to a keepalive upstream.

Debian's ``nginx-light`` (installed with apt-get when missing and running as root, like wrk),
run as a subprocess with a generated config in the scratch directory: ``daemon off``, one
worker (the machine has two vCPUs to share with the backend and wrk), pid, error log and temp
files in the scratch directory, listening on a free loopback port. Keepalive on both sides with
no request cap (nginx closes a client connection after 1000 requests by default, which would
put reconnects into its numbers and not into ours). SSE upstreams are not buffered, as a proxy
in front of a streaming server must be configured.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import harness as h

PACKAGE = "nginx-light"

CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    upstream backend {{
        server {host}:{backend_port};
        keepalive 128;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering {buffering};
        }}
    }}
}}
"""


def ensure_nginx() -> str:
    """The nginx binary; ``apt-get install nginx-light`` when missing and running as root."""
    path = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        h.log(f"nginx is missing: apt-get install -y {PACKAGE}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", PACKAGE]
        if subprocess.run(install, env=env).returncode:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        if Path("/usr/sbin/nginx").exists():
            return "/usr/sbin/nginx"
    raise SystemExit(
        f"nginx is not installed. Install it with `sudo apt-get install -y {PACKAGE}` "
        "(Debian/Ubuntu) or `brew install nginx` (macOS), then run this again."
    )


def nginx_target(name: str, backend: h.Target, sse: bool, scratch: Path) -> h.Target:
    """nginx on a free port proxying to ``backend`` (a running or about to run h.Target)."""
    port = h.free_port()
    work = scratch / f"nginx-{port}"
    work.mkdir(parents=True, exist_ok=True)
    config = CONFIG.format(
        dir=work,
        host=h.HOST,
        port=port,
        backend_port=backend.port,
        buffering="off" if sse else "on",
        # As root, nginx would run its worker as "nobody", which cannot use the scratch dir.
        user="user root;" if os.geteuid() == 0 else "",
    )
    (work / "nginx.conf").write_text(config)
    cmd = [ensure_nginx(), "-e", str(work / "error.log"), "-p", str(work)]
    cmd += ["-c", str(work / "nginx.conf")]
    return h.Target(name, cmd, port, tool=backend.tool)
