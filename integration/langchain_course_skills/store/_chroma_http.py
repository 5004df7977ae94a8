"""Connect to a Chroma server with a time limit on every request, and keep secrets out of text.

chromadb's `HttpClient` waits forever for an answer (its httpx session has no timeout), so a
stopped or hung server would hang every command. `connect_chroma_server` checks the server
with a bounded request first, then bounds every request of the client it returns.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from langchain_course_skills.errors import CourseSkillsError, StoreUnavailableError, parameter

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0  # seconds a server may take to answer one request (a 1,024-skill write)
MASK = "***"  # what a secret is replaced with in messages
_HEARTBEAT = "/api/v2/heartbeat"  # chromadb 1.x's liveness endpoint


def redact_url(url: str) -> str:
    """Return `url` with the user name and password of `http://user:TOKEN@host` masked."""
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if not parsed.username and not parsed.password:
        return url
    host = parsed.netloc.rpartition("@")[2]
    user = MASK if parsed.password is None else parsed.username
    secret = f"{user}:{MASK}" if parsed.password is not None else MASK
    return url.replace(parsed.netloc, f"{secret}@{host}", 1)


def url_secrets(url: str | None, token: str | None = None) -> list[str]:
    """Return the secrets in a server URL and token, to mask wherever they would be shown."""
    secrets = [token] if token else []
    if url:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        if parsed.password:
            secrets.append(parsed.password)
        elif parsed.username:
            secrets.append(parsed.username)  # `http://TOKEN@host`
    return secrets


def redact(text: str, secrets: list[str]) -> str:
    """Return `text` with every secret (and its URL-encoded form) replaced by the mask."""
    from urllib.parse import quote, unquote

    for secret in secrets:
        for form in {secret, quote(secret, safe=""), unquote(secret)}:
            if len(form) >= 3:  # a one- or two-character "secret" would mask ordinary text
                text = text.replace(form, MASK)
    return text


def bound_requests(client: ClientAPI, timeout: float) -> bool:
    """Give every request of a chromadb `HttpClient` the time limit `timeout` (seconds).

    chromadb has no public setting for it, so this is the one place that reaches into the
    client (its httpx session); tests/integration_tests/test_faults_server.py fails if that changes.
    Returns False (and logs a warning) where the client has no such session.
    """
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):
        logger.warning("cannot set a request timeout on %s; a hung server can hang this", client)
        return False
    session.timeout = httpx.Timeout(timeout)
    return True


def connect_chroma_server(
    url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> ClientAPI:
    """Return a client of the Chroma server at `url` whose requests give up after `timeout` s.

    Args:
        url: `http://HOST:PORT` or `https://...`; `http://user:PASSWORD@HOST` sends basic auth.
        token: A bearer token for the server.
        timeout: Seconds to wait for any one answer.

    Raises:
        CourseSkillsError: `url` is not a URL.
        StoreUnavailableError: The server does not answer (the message masks the secrets).
    """
    import chromadb
    import httpx

    parsed = urlparse(url if "://" in url else f"http://{url}")
    shown = redact_url(url)
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
    except ValueError:  # a port that is not a number
        port = 0
    if not parsed.hostname or not port or parsed.scheme not in ("http", "https"):
        msg = f"{parameter('url', repr(shown))} is not a URL; use http://HOST:PORT"
        raise CourseSkillsError(msg)
    headers: dict[str, str] = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif parsed.username:
        pair = f"{parsed.username}:{parsed.password or ''}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
    base = f"{parsed.scheme}://{parsed.hostname}:{port}"
    try:
        # chromadb's client asks the server when it is made, without a time limit: ask once
        # with one, so that a hung server fails here.
        httpx.get(base + _HEARTBEAT, headers=headers, timeout=timeout).raise_for_status()
        client = chromadb.HttpClient(
            host=parsed.hostname,
            port=port,
            ssl=parsed.scheme == "https",
            headers=headers or None,
        )
        bound_requests(client, timeout)
        client.heartbeat()
    except Exception as exc:  # refused, DNS, auth, timeout: httpx and chromadb raise many kinds
        reason = redact(f"{type(exc).__name__}: {exc}", url_secrets(url, token))
        msg = (
            f"cannot reach the Chroma server at {shown} within {timeout:g} s ({reason}); start "
            f"one with `chroma run --path DIR --port {port}`, or check {parameter('url')}, "
            f"{parameter('token')} and {parameter('timeout')}"
        )
        raise StoreUnavailableError(msg) from exc
    return client
