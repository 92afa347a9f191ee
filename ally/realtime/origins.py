"""Which browser origins may open a socket: this site, plus configured extras."""

from __future__ import annotations

from collections.abc import Callable


def own_origins(environ: dict) -> set[str]:
    """This site's origin as the request reached it.

    Never from X-Forwarded-Host / X-Forwarded-Proto here: any client can send
    those. Behind ALLY_TRUSTED_PROXIES proxies, werkzeug's ProxyFix (wrapping
    the whole app, see security.trust_proxies) has already put the forwarded
    scheme and host into these keys."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST", "")
    return {f"{scheme}://{host}"} if host else set()


def origin_check(extra: list[str]) -> Callable[[str | None, dict], bool]:
    """A check for python-engineio: same origin always, and the extra ones."""
    allowed = {o.rstrip("/") for o in extra if o}

    def check(origin: str | None, environ: dict) -> bool:
        if origin is None:
            return True  # not a browser's cross-origin request
        return origin in allowed or origin in own_origins(environ)

    return check
