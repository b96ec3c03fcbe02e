"""--threads: WSGI handlers run on a pool of Python threads, so a handler that
blocks does not hold up the others. Checked with a barrier that K requests
must reach together (it breaks after a timeout inside the app), not with
timings."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from conftest import ServerFactory
from wsgi_support import WsgiServer, new_key, start_wsgi_app


def barrier_outcomes(wsgi: WsgiServer, parties: int, timeout: float) -> list[str]:
    """Send `parties` concurrent requests to one barrier; each says whether it
    passed or saw the barrier break."""
    name = new_key()
    url = wsgi.url(f"/barrier?name={name}&parties={parties}&timeout={timeout}")

    def one(_: int) -> str:
        response = requests.get(url, timeout=60)
        assert response.status_code == 200
        return response.text

    with ThreadPoolExecutor(parties) as pool:
        return list(pool.map(one, range(parties)))


def test_default_threads_run_requests_concurrently(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    wsgi = start_wsgi_app(start_server, tmp_path)  # default --threads 8
    assert barrier_outcomes(wsgi, parties=8, timeout=20) == ["passed"] * 8


def test_threads_option_sets_the_pool_size(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    wsgi = start_wsgi_app(start_server, tmp_path, "--threads", "3")
    assert barrier_outcomes(wsgi, parties=3, timeout=20) == ["passed"] * 3
    # a fourth party never gets a thread while three are waiting: all break
    assert barrier_outcomes(wsgi, parties=4, timeout=2) == ["broken"] * 4


def test_one_thread_serialises_requests(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    wsgi = start_wsgi_app(start_server, tmp_path, "--threads", "1")
    # the first request waits alone until the barrier times out; the second
    # only runs afterwards and finds it broken
    assert barrier_outcomes(wsgi, parties=2, timeout=2) == ["broken", "broken"]
    assert requests.get(wsgi.url("/hello"), timeout=15).content == b"hello world"


def test_sleeping_handler_does_not_stall_others(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """While one handler sits in time.sleep, other requests complete."""
    wsgi = start_wsgi_app(start_server, tmp_path, "--threads", "2")
    with ThreadPoolExecutor(1) as pool:
        sleeper = pool.submit(requests.get, wsgi.url("/sleep?s=5"), timeout=60)
        for _ in range(20):
            assert (
                requests.get(wsgi.url("/hello"), timeout=15).content == b"hello world"
            )
        assert not sleeper.done(), "/hello was only answered after the sleep ended"
        assert sleeper.result().content == b"slept"


def test_graceful_shutdown_waits_for_running_handler(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    wsgi = start_wsgi_app(start_server, tmp_path)
    key = new_key()
    with ThreadPoolExecutor(1) as pool:
        sleeper = pool.submit(
            requests.get, wsgi.url(f"/sleep?s=2&key={key}"), timeout=60
        )
        assert wsgi.marker(key) == "entered\n"
        wsgi.server.send_signal(signal.SIGTERM)
        response = sleeper.result()
    assert response.status_code == 200
    assert response.content == b"slept"
    assert wsgi.server.wait() == 0
