"""Run the real Ally server (``python app.py``) as a subprocess for tests.

The server's output goes to a log file, not a pipe, so a chatty server can
never block on a full pipe; the tail of that log is shown when it fails to
start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0
STOP_GRACE = 5.0


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class LiveServerError(RuntimeError):
    """The server process did not come up (or died)."""


class LiveServer:
    """One ``python app.py --host H --port P`` process with extra environment.

    ``env`` is added to the current environment (e.g. ``DATABASE_URL``,
    ``SECRET_KEY``, ``ALLY_SCHEDULER=off``). The port stays the same across
    :meth:`restart`, so clients can reconnect to the same URL.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        cwd: Path = REPO_ROOT,
        startup_timeout: float = STARTUP_TIMEOUT,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.env = dict(env or {})
        self.extra_args = tuple(extra_args)
        self.cwd = Path(cwd)
        self.startup_timeout = startup_timeout
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="ally-live-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = Path(log_path)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:5123``."""
        return f"http://{self.host}:{self.port}"

    @property
    def command(self) -> list[str]:
        """The command line that starts the server."""
        return [
            sys.executable,
            "app.py",
            "--host",
            self.host,
            "--port",
            str(self.port),
            *self.extra_args,
        ]

    def is_running(self) -> bool:
        """Tell whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> LiveServer:
        """Start the process and wait until ``GET /healthz`` answers 200."""
        if self.is_running():
            raise LiveServerError("the live server is already running")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log_path.open("ab") as log:
            log.write(f"--- start: {' '.join(self.command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_healthy(self) -> None:
        """Poll ``/healthz`` until it answers 200, the process dies, or timeout."""
        deadline = time.monotonic() + self.startup_timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            assert self.process is not None
            code = self.process.poll()
            if code is not None:
                raise LiveServerError(
                    f"the live server exited with code {code} while starting\n"
                    f"{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last_error = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            time.sleep(0.1)
        raise LiveServerError(
            f"{self.url}/healthz did not answer 200 within "
            f"{self.startup_timeout:.0f} s (last: {last_error})\n{self.log_tail()}"
        )

    def _signal(self, sig: int) -> None:
        """Send ``sig`` to the server's process group (it may have children)."""
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM, then SIGKILL if still alive after ``grace`` seconds."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait()
        # Reap anything left in the group (a worker the server spawned).
        self._signal(signal.SIGKILL)
        return self.process.returncode

    def kill(self) -> int | None:
        """SIGKILL at once, as a crash would."""
        if self.process is None:
            return None
        self._signal(signal.SIGKILL)
        self.process.wait()
        return self.process.returncode

    def restart(self) -> LiveServer:
        """Stop, then start again on the same port with the same environment."""
        self.stop()
        return self.start()

    def log_text(self) -> str:
        """The whole captured output of every start so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the captured output."""
        tail = self.log_text().splitlines()[-lines:]
        return "--- live server output (tail) ---\n" + "\n".join(tail)

    def __enter__(self) -> LiveServer:
        return self.start() if not self.is_running() else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
