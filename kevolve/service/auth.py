"""Bearer-token access: required whenever the service listens beyond loopback."""

from __future__ import annotations

import ipaddress
import secrets

from fastapi import HTTPException, Request

from tools.errors import ConfigError


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token (one sentence)."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"refusing to listen on {host} without a token; set KEVOLVE_API_TOKEN (clients send "
            "`Authorization: Bearer <token>`) or listen on 127.0.0.1."
        )


def token_guard(token: str | None):  # noqa: ANN201 - a FastAPI dependency
    """A dependency that checks ``Authorization: Bearer <token>`` when a token is set."""

    def guard(request: Request) -> None:
        if not token:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip(), token):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    return guard
