"""What the scale-out tests need beside `ally.deploy.local.Topology`: a Redis
server of their own (so restarting it disturbs no other test), and nginx.

    with RedisServer(tmp_path) as redis:
        redis.url        # "redis://127.0.0.1:<port>/0"
        redis.restart()  # stop (SIGTERM, waited for), then start on the same port
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.support.live_server import free_port
from tests.support.services import _unavailable

DEFAULT_REDIS_SERVER = "/usr/bin/redis-server"
DEFAULT_NGINX = "/usr/sbin/nginx"
STARTUP_TIMEOUT = 15.0


def require_nginx() -> str:
    """Debian's nginx binary; skip locally, fail in CI (``CI=true``) if absent."""
    wanted = os.environ.get("ALLY_NGINX", DEFAULT_NGINX)
    found = shutil.which(wanted)
    if found is None:
        _unavailable(f"nginx not found at {wanted} (apt-get install nginx)")
    return found


def require_redis_server() -> str:
    """The redis-server binary; skip locally, fail in CI if absent."""
    wanted = os.environ.get("ALLY_TEST_REDIS_SERVER", DEFAULT_REDIS_SERVER)
    found = shutil.which(wanted)
    if found is None:
        _unavailable(f"redis-server not found at {wanted} (apt-get install redis)")
    return found


class RedisServer:
    """One `redis-server` on a free loopback port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_redis_server()
        self.port = free_port()
        self.workdir = workdir
        self.log_path = workdir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        """A redis-py client on this server."""
        import redis

        return redis.Redis(port=self.port, socket_connect_timeout=2)

    def start(self) -> RedisServer:
        """Start it and wait until it answers PING."""
        import redis

        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        client = self.client()
        try:
            while True:
                try:
                    if client.ping():
                        return self
                except (redis.RedisError, OSError):
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not start on {self.port}: "
                        f"{self.log_path.read_text(errors='replace')[-2000:]}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM and wait for it to exit (SIGKILL if it does not)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Stop, then start on the same port (everything it held is gone)."""
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
