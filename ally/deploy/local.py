"""`python -m ally.deploy.local --web 2 [--port 8080]`: the scale-out topology
on this machine, for a trial, the tests and the benchmarks.

nginx (Debian's package) in front of N `python app.py` web processes with
ALLY_SCHEDULER=off, one `flask --app app ally scheduler` holding PostgreSQL's
advisory lock and a standby, against the PostgreSQL in DATABASE_URL and the
Redis in SOCKETIO_MESSAGE_QUEUE. Migrations run once, before any web process
starts. ^C or SIGTERM stops every process (each runs in a process group of its
own, and the whole group is stopped). Tests and benchmarks use `Topology`.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from ..scheduler import ADVISORY_LOCK_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "deploy" / "nginx.conf.template"
NGINX = os.environ.get("ALLY_NGINX", "/usr/sbin/nginx")
MIME_TYPES = "/etc/nginx/mime.types"
STARTUP_TIMEOUT = 60.0
STOP_GRACE = 10.0
# Only these addresses may tell nginx the client's address (X-Forwarded-For).
TRUSTED_PROXIES = ("127.0.0.1", "::1")
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")


class TopologyError(RuntimeError):
    """The topology cannot start; the message is one line for the user."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def render_nginx_config(
    template: str,
    *,
    listen: str,
    upstreams: Sequence[str],
    run_dir: Path,
    static_root: Path = REPO_ROOT / "static",
    trusted_proxies: Sequence[str] = TRUSTED_PROXIES,
    workers: str = "auto",
    mime_types: str = MIME_TYPES,
) -> str:
    """The nginx configuration: `template` with every @NAME@ filled in."""
    values = {
        "USER": _worker_user(static_root),
        "WORKERS": workers,
        "RUN_DIR": str(run_dir),
        "MIME_TYPES": mime_types,
        "LISTEN": listen,
        "STATIC_ROOT": str(static_root).rstrip("/"),
        # One failure marks a process down for 5 s; then nginx tries it again.
        "SERVERS": "\n".join(
            f"        server {address} max_fails=1 fail_timeout=5s;"
            for address in upstreams
        ),
        "REAL_IP_FROM": "\n".join(
            f"    set_real_ip_from {address};" for address in trusted_proxies
        ),
    }
    missing = set(_PLACEHOLDER.findall(template)) - set(values)
    if missing:
        raise ValueError(f"no value for {', '.join(sorted(missing))} in the template")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def _worker_user(static_root: Path) -> str:
    """nginx's `user` line: as root, the owner of the static files; else none
    (nginx ignores the directive, with a warning, when not run as root)."""
    if os.geteuid() != 0:
        return "# (not root: the workers run as the user who started nginx)"
    status = static_root.stat()
    owner = pwd.getpwuid(status.st_uid).pw_name
    group = grp.getgrgid(status.st_gid).gr_name
    return f"user {owner} {group};"


def check_services(environ: Mapping[str, str]) -> tuple[str, str]:
    """DATABASE_URL (PostgreSQL) and SOCKETIO_MESSAGE_QUEUE (Redis), or a
    TopologyError saying what is missing."""
    database = environ.get("DATABASE_URL", "")
    queue = environ.get("SOCKETIO_MESSAGE_QUEUE", "")
    # Only a URL's scheme is repeated: the rest may hold a password.
    if not database.startswith(("postgres://", "postgresql://", "postgresql+")):
        raise TopologyError(
            "DATABASE_URL must name a PostgreSQL database (it is "
            f"{_scheme(database)}): the processes share one, and SQLite cannot."
        )
    if not queue.startswith(("redis://", "rediss://")):
        raise TopologyError(
            "SOCKETIO_MESSAGE_QUEUE must name a Redis server (it is "
            f"{_scheme(queue)}): the processes share rooms through it."
        )
    return database, queue


def _scheme(url: str) -> str:
    return f"{url.partition(':')[0]}:…" if url else "not set"


def _sqlalchemy_url(url: str) -> str:
    """psycopg 3 for a plain postgres URL, as the app itself does."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Process:
    """One child process in a process group of its own, its output in a log."""

    def __init__(
        self, name: str, command: list[str], env: Mapping[str, str], log_path: Path
    ) -> None:
        self.name = name
        self.command = command
        self.env = dict(env)
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None
        # Once its group has been killed after it ended, its pid (the group's
        # id) may belong to someone else: it is never signalled again.
        self._group_gone = True

    @property
    def pid(self) -> int | None:
        """The running process's id (None before the first start)."""
        return None if self.popen is None else self.popen.pid

    def start(self) -> None:
        """Start it (again), appending to its log."""
        with self.log_path.open("ab") as log:
            log.write(f"--- start: {' '.join(self.command)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.command,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._group_gone = False

    def running(self) -> bool:
        """Whether it has been started and not ended."""
        return self.popen is not None and self.popen.poll() is None

    def _signal_group(self, sig: int) -> None:
        if self._group_gone:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL to its whole group at once, as a crash would."""
        if self.popen is not None:
            self._signal_group(signal.SIGKILL)
            self.popen.wait()
            self._group_gone = True

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM, SIGKILL after `grace` s; anything left in its group too."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def log_tail(self, lines: int = 40) -> str:
        """The end of its log, for an error message."""
        try:
            found = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(found.splitlines()[-lines:])


class Topology:
    """nginx, `web` web processes and `schedulers` scheduler processes.

    Everything the processes write (logs, nginx's configuration, pid and temp
    files) goes into `run_dir`. `env` is added to every process's environment.
    """

    def __init__(
        self,
        database_url: str,
        message_queue: str,
        *,
        web: int = 2,
        schedulers: int = 2,
        host: str = "127.0.0.1",
        port: int | None = None,
        run_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if web < 1:
            raise TopologyError("--web must be at least 1.")
        self.database_url = database_url
        self.host = host
        self.port = port or free_port(host)
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix="ally-topology-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url,
            "SOCKETIO_MESSAGE_QUEUE": message_queue,
            # nginx is the one proxy in front of the web processes (they
            # listen on loopback only): its X-Forwarded-* are to be believed.
            "ALLY_TRUSTED_PROXIES": "1",
            **(env or {}),
        }
        self.web_ports = [free_port() for _ in range(web)]
        self.webs = [self._web(i, port) for i, port in enumerate(self.web_ports)]
        self.schedulers = [self._scheduler(i) for i in range(schedulers)]
        self.nginx = Process(
            "nginx",
            [
                NGINX,
                "-c",
                str(self.run_dir / "nginx.conf"),
                "-p",
                str(self.run_dir),
                "-e",
                "stderr",
                "-g",
                "daemon off;",
            ],
            self.env,
            self.run_dir / "nginx.log",
        )
        self._engine: Engine | None = None

    def _web(self, index: int, port: int) -> Process:
        name = f"web-{index}"
        return Process(
            name,
            [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
            # PGAPPNAME names each process's connections in pg_stat_activity.
            {**self.env, "ALLY_SCHEDULER": "off", "PGAPPNAME": f"ally-{name}"},
            self.run_dir / f"{name}.log",
        )

    def _scheduler(self, index: int) -> Process:
        name = f"scheduler-{index}"
        return Process(
            name,
            [sys.executable, "-m", "flask", "--app", "app", "ally", "scheduler"],
            {**self.env, "ALLY_SCHEDULER": "on", "PGAPPNAME": f"ally-{name}"},
            self.run_dir / f"{name}.log",
        )

    # --- what callers read ---------------------------------------------------

    @property
    def url(self) -> str:
        """nginx's address: where users (and tests) connect."""
        return f"http://{self.host}:{self.port}"

    @property
    def web_urls(self) -> list[str]:
        """Each web process's own address, bypassing nginx."""
        return [f"http://127.0.0.1:{port}" for port in self.web_ports]

    @property
    def processes(self) -> list[Process]:
        """Every process of the topology."""
        return [self.nginx, *self.webs, *self.schedulers]

    @property
    def engine(self) -> Engine:
        """An engine on the topology's database (for looking at its state)."""
        if self._engine is None:
            self._engine = create_engine(_sqlalchemy_url(self.database_url))
        return self._engine

    # --- starting and stopping -----------------------------------------------

    def start(self) -> Topology:
        """Migrate, then start every process and wait until each is ready."""
        try:
            self._migrate()
            # Everything starts at once; then each is waited for.
            for process in [*self.webs, *self.schedulers]:
                process.start()
            self._start_nginx()
            for index, web in enumerate(self.webs):
                self._wait_healthy(web, self.web_urls[index])
            self._wait_healthy(self.nginx, self.url)
            self.wait_for(
                lambda: len(self.lock_holders()) == 1,
                "a scheduler to take the lock",
                self.schedulers,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _migrate(self) -> None:
        """Apply pending migrations once, so the web processes never race at it.

        It also creates instance/secret_key when SECRET_KEY is not set, before
        any web process could: every process must sign cookies with one key.
        """
        log_path = self.run_dir / "migrate.log"
        with log_path.open("wb") as log:
            done = subprocess.run(
                [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
                cwd=REPO_ROOT,
                env={**self.env, "ALLY_SCHEDULER": "off"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if done.returncode != 0:
            lines = log_path.read_text(errors="replace").strip().splitlines()
            raise TopologyError(
                f"migrations failed: {lines[-1] if lines else done.returncode}"
                f" (log: {log_path})"
            )

    def _start_nginx(self) -> None:
        if not os.access(NGINX, os.X_OK):
            raise TopologyError(f"nginx not found at {NGINX} (apt-get install nginx)")
        config = render_nginx_config(
            TEMPLATE.read_text(),
            listen=f"{self.host}:{self.port}",
            upstreams=[f"127.0.0.1:{port}" for port in self.web_ports],
            run_dir=self.run_dir,
        )
        (self.run_dir / "nginx.conf").write_text(config)
        self.nginx.start()

    def _wait_healthy(self, process: Process, url: str) -> None:
        self.wait_for(lambda: _healthy(url), f"{process.name} at {url}", [process])

    def start_web(self, index: int) -> None:
        """Start (or restart) web process `index`; wait until it answers."""
        self.webs[index].start()
        self._wait_healthy(self.webs[index], self.web_urls[index])

    def start_scheduler(self, index: int) -> None:
        """Start (or restart) scheduler process `index` (it may wait as standby)."""
        self.schedulers[index].start()

    def stop(self) -> None:
        """Stop every process: nginx first, then the web processes (which write
        their queued signals), then the schedulers."""
        for process in self.processes:
            process.stop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def kill_web(self, index: int) -> None:
        """SIGKILL web process `index`, as a crash would."""
        self.webs[index].kill()

    def kill_scheduler(self) -> int:
        """SIGKILL the scheduler that holds the lock; returns its index."""
        holders = self.lock_holders()
        if not holders:
            raise TopologyError("no scheduler holds the lock")
        self.schedulers[holders[0]].kill()
        return holders[0]

    def lock_holders(self) -> list[int]:
        """The scheduler processes holding PostgreSQL's advisory lock (one,
        except while none does during a takeover)."""
        with self.engine.connect() as connection:
            names = connection.execute(
                text(
                    "SELECT a.application_name FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted"
                    " AND l.objid::bigint = :key AND l.database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"key": ADVISORY_LOCK_KEY},
            ).scalars()
            holders = set(names)
        return [
            index
            for index, process in enumerate(self.schedulers)
            if process.env["PGAPPNAME"] in holders
        ]

    def wait_for(self, check, what: str, watched: Sequence[Process]) -> None:
        """Poll `check` until true; a TopologyError if a watched process dies
        or STARTUP_TIMEOUT passes (with the end of its log)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not check():
            for process in watched:
                if not process.running():
                    raise TopologyError(
                        f"{process.name} exited while starting (log: "
                        f"{process.log_path})\n{process.log_tail()}"
                    )
            if time.monotonic() > deadline:
                tails = "\n".join(p.log_tail() for p in watched)
                raise TopologyError(f"timed out waiting for {what}\n{tails}")
            time.sleep(0.1)

    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _healthy(url: str) -> bool:
    """Whether GET <url>/healthz answers 200."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _describe(topology: Topology) -> str:
    lines = [f"Ally is running on {topology.url}/ (logs in {topology.run_dir})"]
    for process in topology.processes:
        lines.append(f"  {process.name:<12} pid {process.pid:<8} {process.log_path}")
    for index in topology.lock_holders():
        lines.append(f"  {topology.schedulers[index].name} holds the lock")
    lines.append("Stop with ^C.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Start the topology, print where it is, and stop it on ^C or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m ally.deploy.local",
        description="nginx, N web processes, a scheduler and a standby, here.",
    )
    parser.add_argument("--web", type=int, default=2, help="web processes")
    parser.add_argument("--host", default="127.0.0.1", help="nginx's address")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port")
    args = parser.parse_args(argv)
    try:
        database, queue = check_services(os.environ)
        topology = Topology(
            database, queue, web=args.web, host=args.host, port=args.port
        )
    except TopologyError as error:
        print(f"ally.deploy.local: {error}", file=sys.stderr)
        return 2
    # SIGTERM ends the wait below like ^C does, through the `finally`.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    try:
        topology.start()
        print(_describe(topology), flush=True)
        reported: set[str] = set()
        while True:
            for process in topology.processes:
                if not process.running() and process.name not in reported:
                    reported.add(process.name)
                    print(
                        f"{process.name} exited ({process.popen.returncode}); "
                        f"see {process.log_path}",
                        flush=True,
                    )
            time.sleep(1)
    except TopologyError as error:
        print(f"ally.deploy.local: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping…", flush=True)
        return 0
    finally:
        topology.stop()


if __name__ == "__main__":
    sys.exit(main())
