"""Login loading, security headers and safe redirects."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from .extensions import login_manager
from .models import User
from .services import accounts

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@login_manager.user_loader
def load_user(login_id: str) -> User | None:
    """The user for a login cookie, unless that login has ended since (logout,
    log out everywhere, a new password): Flask-Login's alternative-id pattern."""
    return accounts.load_login(login_id)


def is_safe_next(target: str | None) -> bool:
    """Whether a `next` URL stays on this site (a path, no scheme or host)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    # The room's call and the session page's device check use this origin's
    # microphone and camera; nothing embedded may.
    headers.setdefault(
        "Permissions-Policy", "camera=(self), microphone=(self), geolocation=()"
    )
    return response


class DropForwarded:
    """WSGI middleware: forget every X-Forwarded-* header once the trusted
    ones are applied (the rest a client may have written). Python-engineio's
    default Origin check would otherwise take X-Forwarded-Host / -Proto as
    this site's own origin."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __getattr__(self, name: str):
        # Still reachable through it: the Socket.IO middleware's engineio_app.
        return getattr(self.wsgi_app, name)

    def __call__(self, environ, start_response):
        for key in [k for k in environ if k.startswith("HTTP_X_FORWARDED_")]:
            del environ[key]
        return self.wsgi_app(environ, start_response)


class TrustedProxies(ProxyFix):
    """werkzeug's ProxyFix, through which the wrapped app stays reachable."""

    def __getattr__(self, name: str):
        return getattr(self.app, name)


def trust_proxies(app: Flask) -> None:
    """Believe X-Forwarded-For/-Proto/-Host/-Port/-Prefix from exactly the
    configured number of proxies (ALLY_TRUSTED_PROXIES), and with 0 from no
    one. Wraps the whole app, Socket.IO included, so the socket's Origin check
    and the rate limiter see the same host and address as the pages."""
    count = int(app.config["ALLY_TRUSTED_PROXIES"])
    if count < 0:
        raise ValueError("ALLY_TRUSTED_PROXIES must be 0 or more.")
    # Dropped after ProxyFix has read them too: it leaves them in place, and
    # python-engineio would take the first (client-written) X-Forwarded-Host.
    app.wsgi_app = DropForwarded(app.wsgi_app)  # type: ignore[method-assign]
    if count == 0:
        return
    app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
        app.wsgi_app,
        x_for=count,
        x_proto=count,
        x_host=count,
        x_port=count,
        x_prefix=count,
    )


def init_app(app: Flask) -> None:
    """Bind Flask-Login and add security headers to every response."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Log in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    app.after_request(_security_headers)
