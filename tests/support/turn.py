"""Run a real coturn ``turnserver`` on loopback for tests.

DESIGN.md §10: the call's TURN relay is coturn from Debian's package, checking
TURN REST credentials (``use-auth-secret`` + ``static-auth-secret``). Tests
start their own server on 127.0.0.1 with a known secret, so every packet stays
on loopback and nothing needs root:

    with TurnServer(secret="s3cret") as turn:
        turn.url        # "turn:127.0.0.1:<port>?transport=udp"
        turn.urls       # the same over UDP and TCP
        turn.log_path   # print it (or turn.log_tail()) when a test fails

The server gets no configuration file (``-n``: command-line options only),
writes its log, pid file and (unused, but always opened) SQLite user database
into a private temporary directory, and runs in the foreground as a child
process. Start-up waits for a state, not a fixed time: the listening port must
accept a TCP connection *and* answer a STUN Binding request over UDP, within a
deadline; otherwise :class:`TurnServerError` says why, with the log's tail.
"""

from __future__ import annotations

import os
import random
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.support.services import _unavailable

DEFAULT_TURNSERVER = "/usr/bin/turnserver"
DEFAULT_UCLIENT = "/usr/bin/turnutils_uclient"
REALM = "ally.test"
STARTUP_TIMEOUT = 15.0
STOP_GRACE = 5.0
POLL_INTERVAL = 0.05
RELAY_PORT_COUNT = 64
# Relay ports come from here, below Linux's ephemeral range (32768-60999) so
# they rarely collide with the ports the kernel hands out to clients.
RELAY_PORT_FLOOR, RELAY_PORT_CEILING = 20000, 32000

# A STUN Binding request (RFC 5389 §6): type 0x0001, no attributes.
STUN_BINDING_REQUEST = 0x0001
STUN_BINDING_SUCCESS = 0x0101
STUN_MAGIC_COOKIE = 0x2112A442


def turnserver_path() -> str | None:
    """The coturn server binary (``ALLY_TEST_TURNSERVER`` or Debian's), or None."""
    return shutil.which(os.environ.get("ALLY_TEST_TURNSERVER", DEFAULT_TURNSERVER))


def uclient_path() -> str | None:
    """coturn's test client ``turnutils_uclient`` (same package), or None."""
    return shutil.which(os.environ.get("ALLY_TEST_TURN_UCLIENT", DEFAULT_UCLIENT))


def require_turnserver() -> str:
    """The turnserver binary; skip locally, fail in CI (``CI=true``) if absent."""
    path = turnserver_path()
    if path is None:
        wanted = os.environ.get("ALLY_TEST_TURNSERVER", DEFAULT_TURNSERVER)
        _unavailable(f"turnserver not found at {wanted} (apt-get install coturn)")
    return path


def require_uclient() -> str:
    """turnutils_uclient; skip locally, fail in CI (``CI=true``) if absent."""
    path = uclient_path()
    if path is None:
        wanted = os.environ.get("ALLY_TEST_TURN_UCLIENT", DEFAULT_UCLIENT)
        _unavailable(
            f"turnutils_uclient not found at {wanted} (apt-get install coturn)"
        )
    return path


def free_udp_tcp_port(host: str = "127.0.0.1") -> int:
    """A port number free for both TCP and UDP on ``host`` right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port
    raise TurnServerError(f"no port free for both TCP and UDP on {host}")


def relay_port_range(count: int = RELAY_PORT_COUNT) -> tuple[int, int]:
    """A random, small ``(min, max)`` range for relay ports.

    "Free-ish": nothing reserves it, but two test runs rarely pick the same
    range, and coturn skips a relay port it cannot bind.
    """
    start = random.randrange(RELAY_PORT_FLOOR, RELAY_PORT_CEILING - count)
    return start, start + count - 1


class TurnServerError(RuntimeError):
    """turnserver did not come up (or died); the message has the log's tail."""


class TurnServer:
    """One foreground ``turnserver`` on ``host`` checking TURN REST credentials.

    ``port`` (default: a free one) is the listening port for both UDP and
    TCP; relays are allocated on ``host`` in ``min_port``..``max_port``.
    Loopback peers are allowed (``--allow-loopback-peers``) because tests
    relay between browsers on the same machine. TLS/DTLS listeners and the
    telnet CLI are off. Use it as a context manager, or call :meth:`start`
    and :meth:`stop`. Its files (log, pid file, database) go to ``workdir``
    (default: a new directory under the system's temporary directory).

    With ``config`` (a coturn configuration file, e.g. deploy/turnserver.conf
    with a test secret) the file sets authentication and policy instead;
    ``secret`` should then be the file's ``static-auth-secret``. Command-line
    options still put the listener, relays, log and pid file on loopback and
    in ``workdir`` (they override the file's single-valued settings).
    """

    def __init__(
        self,
        secret: str = "ally-test-turn-secret",
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        realm: str = REALM,
        relay_ports: tuple[int, int] | None = None,
        binary: str | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
        extra_args: tuple[str, ...] = (),
        workdir: Path | None = None,
        config: Path | None = None,
    ) -> None:
        self.secret = secret
        self.config = config
        self.host = host
        self.port = port if port is not None else free_udp_tcp_port(host)
        self.realm = realm
        self.min_port, self.max_port = relay_ports or relay_port_range()
        self.binary = binary or turnserver_path()
        if self.binary is None:
            raise TurnServerError("turnserver not found (apt-get install coturn)")
        self.startup_timeout = startup_timeout
        self.extra_args = tuple(extra_args)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="ally-turn-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "turnserver.log"
        # Anything the server prints outside its log (e.g. "socket: Protocol
        # not supported" where SCTP is unavailable) lands here.
        self.output_path = self.workdir / "turnserver.out"
        self.pid_path = self.workdir / "turnserver.pid"
        self.process: subprocess.Popen[bytes] | None = None

    # --- what clients are given

    @property
    def url(self) -> str:
        """The TURN URL over UDP, as ``ALLY_TURN_URLS`` takes it."""
        return f"turn:{self.host}:{self.port}?transport=udp"

    @property
    def urls(self) -> list[str]:
        """TURN URLs over UDP and TCP."""
        return [self.url, f"turn:{self.host}:{self.port}?transport=tcp"]

    @property
    def command(self) -> list[str]:
        """The full turnserver command line."""
        if self.config is None:
            source = ["-n"]  # no configuration file: only these options
            policy = [
                "--use-auth-secret",
                f"--static-auth-secret={self.secret}",
                f"--realm={self.realm}",
                "--allow-loopback-peers",  # tests relay between local browsers
                "--fingerprint",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
            ]
        else:
            # The file decides authentication and policy; the options below
            # only move the server onto loopback and its files into workdir.
            source, policy = ["-c", str(self.config)], []
        return [
            str(self.binary),
            *source,
            "--verbose",  # log listeners and every allocation/401 (tests read it)
            f"--listening-ip={self.host}",
            f"--listening-port={self.port}",
            f"--relay-ip={self.host}",
            f"--min-port={self.min_port}",
            f"--max-port={self.max_port}",
            *policy,
            f"--log-file={self.log_path}",
            "--simple-log",  # exactly log_path, no date appended to its name
            "--no-stdout-log",
            f"--pidfile={self.pid_path}",
            # The default database is /var/lib/turn/turndb (root's); REST
            # credentials never touch it, but coturn opens one regardless.
            f"--userdb={self.workdir / 'turndb'}",
            *self.extra_args,
        ]

    # --- life cycle

    def start(self) -> TurnServer:
        """Start turnserver and wait until it answers over TCP and UDP."""
        if self.process is not None:
            raise TurnServerError("turnserver already started")
        with open(self.output_path, "wb") as output:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C is pytest's alone
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; keeps the log."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> TurnServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The log stays on disk: a failure's message points at it.
        self.stop()

    # --- logs

    def log_text(self) -> str:
        """The server's log so far ('' before it is written)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the log, then anything printed outside it."""
        parts = self.log_text().splitlines()[-lines:]
        try:
            stray = self.output_path.read_text(errors="replace").strip()
        except FileNotFoundError:
            stray = ""
        if stray:
            parts += ["--- stdout/stderr:", *stray.splitlines()[-lines:]]
        return "\n".join(parts)

    def wait_for_log(self, text: str, timeout: float = 5.0) -> str:
        """Wait until ``text`` appears in the log; return the matching line.

        coturn may write a line just after the client has its answer, so
        tests wait for it (with a deadline) instead of reading once.
        """
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_text().splitlines():
                if text in line:
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"turnserver log has no line with {text!r} after {timeout} s "
                    f"({self.log_path}):\n{self.log_tail()}"
                )
            time.sleep(POLL_INTERVAL)

    # --- readiness

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        problem = "not started"
        while True:
            assert self.process is not None
            code = self.process.poll()
            if code is not None:
                raise TurnServerError(
                    f"turnserver exited with code {code} during start-up "
                    f"({self.log_path}):\n{self.log_tail()}\n"
                    f"command: {' '.join(self.command)}"
                )
            problem = self._probe()
            if problem is None:
                return
            if time.monotonic() >= deadline:
                raise TurnServerError(
                    f"turnserver not ready on {self.host}:{self.port} after "
                    f"{self.startup_timeout} s ({problem}; {self.log_path}):\n"
                    f"{self.log_tail()}"
                )
            time.sleep(POLL_INTERVAL)

    def _probe(self) -> str | None:
        """None when TCP connects and UDP answers STUN; else what is missing."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                pass
        except OSError as exc:
            return f"TCP connect failed: {exc}"
        if not stun_binding(self.host, self.port, timeout=0.2):
            return "no STUN Binding answer over UDP"
        return None


def stun_binding(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if ``host:port`` answers a STUN Binding request over UDP."""
    transaction = os.urandom(12)
    request = struct.pack("!HHI", STUN_BINDING_REQUEST, 0, STUN_MAGIC_COOKIE)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request + transaction, (host, port))
            answer = sock.recv(2048)
        except OSError:  # timeout, or ICMP port unreachable on loopback
            return False
    if len(answer) < 20:
        return False
    kind, _, cookie = struct.unpack("!HHI", answer[:8])
    return (
        kind == STUN_BINDING_SUCCESS
        and cookie == STUN_MAGIC_COOKIE
        and answer[8:20] == transaction
    )


# --- coturn's own test client

# uclient prints this once every allocation, permission and channel binding
# of its clients succeeded; afterwards it only waits a random 1-6 s before
# sending test messages, which allocation tests do not need.
UCLIENT_CONNECTED = "Total connect time is"
UCLIENT_RELAY = re.compile(r"Received relay addr: ([0-9.]+):([0-9]+)")
UCLIENT_ERROR = re.compile(r"\berror (\d{3})\b")
UCLIENT_TIMEOUT = 15.0


@dataclass(frozen=True)
class UclientResult:
    """What one ``turnutils_uclient`` run showed."""

    allocated: bool  # every allocation and channel binding succeeded
    returncode: int | None  # None: stopped once allocated, before its data phase
    output: str
    relays: tuple[tuple[str, int], ...]  # relay addresses the server handed out
    errors: tuple[int, ...]  # STUN error codes reported, e.g. 403 for a peer


def uclient_allocate(
    server: TurnServer,
    username: str,
    credential: str,
    *,
    tcp: bool = False,
    peer: str | None = None,
    uclient: str | None = None,
    timeout: float = UCLIENT_TIMEOUT,
) -> UclientResult:
    """Allocate relays on ``server`` with ``turnutils_uclient`` and a TURN login.

    The options: ``-y`` two clients relaying to each other (so the server must
    also grant permissions and channels to loopback peers) or, with ``peer``,
    ``-e <peer>`` one client asking for a permission and channel to that
    address (port 3480); ``-c`` without the extra RTCP pair, ``-n 1`` one
    message each, ``-m 1`` one client (pair), ``-t`` TCP to the server, ``-v``
    to print each step, ``-u``/``-w`` the long-term credentials (the TURN REST
    username, and the HMAC as the password).

    The run stops as soon as uclient reports its connect phase done (state,
    not time), before it would send any test message: its data phase starts
    1-6 s later. When something is refused it exits with 255 after "Cannot
    complete Allocation" (401) or "channel bind: error 403". (uclient flushes
    each line, so its output arrives through the pipe as it goes.)

    A ``peer`` is never sent a packet by this: the server only checks the
    permission, and relays on 127.0.0.1 cannot send off the machine anyway.
    """
    binary = uclient or uclient_path()
    if binary is None:
        raise FileNotFoundError("turnutils_uclient not found (apt-get install coturn)")
    command = [binary, "-v", "-c", "-n", "1", "-m", "1"]
    command += ["-e", peer] if peer else ["-y"]
    command += ["-t"] if tcp else []
    command += ["-u", username, "-w", credential, "-p", str(server.port), server.host]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    connected = exited = False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while not connected:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"turnutils_uclient still running after {timeout} s:\n"
                        + b"".join(chunks).decode(errors="replace")
                    )
                if not selector.select(left):
                    continue
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    exited = True  # uclient ended by itself: keep its exit code
                    break
                chunks.append(chunk)
                connected = UCLIENT_CONNECTED.encode() in b"".join(chunks)
    finally:
        if not exited:  # connected (or timed out): its data phase is not wanted
            process.terminate()
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
    output = b"".join(chunks).decode(errors="replace")
    returncode = None if connected else process.returncode
    relays = tuple((host, int(port)) for host, port in UCLIENT_RELAY.findall(output))
    errors = tuple(int(code) for code in UCLIENT_ERROR.findall(output))
    allocated = (
        (connected or returncode == 0)
        and bool(relays)
        and not errors
        and "ERROR" not in output
    )
    return UclientResult(allocated, returncode, output, relays, errors)
