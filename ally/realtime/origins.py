"""Which browser origins may open a socket: this site, plus configured extras."""

from __future__ import annotations

from collections.abc import Callable


def own_origins(environ: dict) -> set[str]:
    """This site's origin as the request reached it (and as a proxy forwarded it)."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST", "")
    found = {f"{scheme}://{host}"} if host else set()
    if "HTTP_X_FORWARDED_PROTO" in environ or "HTTP_X_FORWARDED_HOST" in environ:
        forwarded_scheme = environ.get("HTTP_X_FORWARDED_PROTO", scheme)
        forwarded_host = environ.get("HTTP_X_FORWARDED_HOST", host)
        found.add(
            f"{forwarded_scheme.split(',')[0].strip()}://"
            f"{forwarded_host.split(',')[0].strip()}"
        )
    return found


def origin_check(extra: list[str]) -> Callable[[str | None, dict], bool]:
    """A check for python-engineio: same origin always, and the extra ones."""
    allowed = {o.rstrip("/") for o in extra if o}

    def check(origin: str | None, environ: dict) -> bool:
        if origin is None:
            return True  # not a browser's cross-origin request
        return origin in allowed or origin in own_origins(environ)

    return check
