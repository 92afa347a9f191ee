"""Ally: study partners and a daily teach-back hour."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; starts no scheduler and no threads."""
    from . import database, security
    from .cli import register_cli
    from .config import load_config
    from .extensions import csrf, limiter
    from .realtime import init_realtime
    from .web import register_web

    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    load_config(app, config)
    database.init_app(app)
    security.init_app(app)
    csrf.init_app(app)
    # One limiter serves every app of the process (tests make many), and it
    # takes RATELIMIT_DEFAULT only while it has no default: each app starts
    # from none, so one app's default never limits the next.
    limiter.limit_manager.set_default_limits([])
    limiter.init_app(app)
    register_web(app)
    init_realtime(app)
    security.trust_proxies(app)  # outermost: the socket middleware sees it too
    register_cli(app)
    return app
