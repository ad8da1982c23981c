"""Run the admin with uvicorn inside an existing asyncio loop (next to the SMTP listener)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn

from postdesk.admin.app import create_app
from postdesk.gateway.app import App

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The gateway owns SIGINT/SIGTERM and stops us through ``should_exit``.
        yield


@dataclass
class WebServer:
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    async def stop(self) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(self.task, timeout=10)
        except TimeoutError:
            self.task.cancel()


async def start_web(
    core: App,
    host: str,
    port: int,
    *,
    wake_outbox: Callable[[], None] | None = None,
    reuse_port: bool = False,
) -> WebServer:
    """Bind and serve; port 0 picks a free one (returned). ``reuse_port``: several processes
    on one host share the port, as they share the SMTP port."""
    config = uvicorn.Config(
        create_app(core, wake_outbox=wake_outbox),
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        proxy_headers=False,  # behind a proxy, client IPs for the login limit need care
    )
    # Bound here so a taken port raises OSError to the caller (uvicorn would sys.exit).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises the bind error
            raise RuntimeError("the web server stopped at start-up")
        await asyncio.sleep(0.02)
    bound = sock.getsockname()[1]
    log.info("admin on http://%s:%s/admin/", host, bound)
    return WebServer(server, task, bound)
