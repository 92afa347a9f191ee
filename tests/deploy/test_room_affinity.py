"""Room affinity behind nginx (deploy/nginx.conf.template): every request
that names a room (`?room=<session id>`, as the room page's socket does) goes
to one web process whoever sends it, so both partners share a process and the
relay needs no queue; a request naming none goes by the client's address.
Which process served each request is read from nginx's access log
(`upstream=`).
"""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
import requests

from ally.deploy.local import Topology
from tests.support.services import fresh_postgres_database
from tests.support.topology import RedisServer, require_nginx

pytestmark = [pytest.mark.live, pytest.mark.postgres, pytest.mark.redis]

SERVED = re.compile(
    r'^(\S+) .*"GET /healthz\?(?:room=(\d+)&)?n=(\d+) [^"]*" 200 .*upstream=(\S+)'
)


def test_a_room_goes_to_one_process_whoever_asks_and_rooms_spread(tmp_path):
    require_nginx()
    with RedisServer(tmp_path) as redis, fresh_postgres_database() as database_url:
        topology = Topology(
            database_url, redis.url, web=2, schedulers=1, run_dir=tmp_path / "topology"
        )
        with topology:  # started, and stopped at the end
            n = 0
            for room in range(1, 41):
                for client in range(3):  # three people, three addresses
                    n += 1
                    answer = requests.get(
                        f"{topology.url}/healthz?room={room}&n={n}",
                        headers={"X-Forwarded-For": f"10.0.{client}.{room}"},
                        timeout=10,
                    )
                    assert answer.status_code == 200
            for address in range(40):
                for _ in range(3):  # one address, three requests
                    n += 1
                    requests.get(
                        f"{topology.url}/healthz?n={n}",
                        headers={"X-Forwarded-For": f"10.1.0.{address}"},
                        timeout=10,
                    )
            # nginx writes its access log as each request ends: all are there.
            log = (tmp_path / "topology" / "nginx-access.log").read_text().splitlines()
    by_room: dict[str, set[str]] = defaultdict(set)
    by_address: dict[str, set[str]] = defaultdict(set)
    for line in log:
        found = SERVED.match(line)
        if found is None:
            continue
        address, room, _, upstream = found.groups()
        if room:
            by_room[room].add(upstream)
        else:
            by_address[address].add(upstream)
    assert len(by_room) == 40 and len(by_address) == 40
    assert all(len(upstreams) == 1 for upstreams in by_room.values()), by_room
    assert all(len(upstreams) == 1 for upstreams in by_address.values()), by_address
    # Rooms (and addresses) spread over both processes.
    assert len(set().union(*by_room.values())) == 2
    assert len(set().union(*by_address.values())) == 2
