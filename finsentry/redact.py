"""Secrets out of URLs before they are printed, logged, stored as an error or shown on the dashboard.

A URL can carry a secret in three places: the password of its userinfo (``postgresql://u:pw@h/db``),
a query parameter (``?token=…``), or a path segment (Slack-style ``/services/T00/B00/XXXXXXXX``).
All three are replaced by ``***``; the scheme, host, port and the rest of the path stay, so an
operator can still tell which target is meant.

    >>> redact_url("postgresql+psycopg://app:hunter2@db:5432/finsentry")
    'postgresql+psycopg://app:***@db:5432/finsentry'
    >>> redact_url("https://hooks.example.com/services/T01/B02/a1B2c3D4e5F6g7H8?token=abc&team=x")
    'https://hooks.example.com/services/T01/B02/***?token=***&team=x'
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_PARAM = re.compile(r"(?i)token|secret|key|sig|pass|pwd|auth|code|credential")
# A path segment that looks generated: long, letters and digits mixed (webhook tokens, API keys).
_TOKEN_SEGMENT = re.compile(r"^(?=[A-Za-z0-9_\-]*[0-9])(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{16,}$")


def redact_url(url: str) -> str:
    """``url`` with its password, secret-looking query values and token-like path segments masked."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK  # not parseable as a URL: show nothing of it
    if not parts.scheme:
        return _redact_loose(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:{MASK}@{host}{port}"
    elif parts.username is not None:  # a token passed as the user name
        netloc = f"{MASK}@{host}{port}"
    path = "/".join(MASK if _TOKEN_SEGMENT.match(seg) else seg for seg in parts.path.split("/"))
    query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


_LOOSE_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-])(?=[A-Za-z0-9_\-]*[0-9])(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{16,}")
_LOOSE_PARAM = re.compile(r"(?i)\b([\w.\-]*(?:token|secret|key|sig|pass|pwd|auth|code|credential)[\w.\-]*)=[^&\s\"']*")
_LOOSE_USERINFO = re.compile(r"(//[^/:@\s]*:)[^@/\s]*@")


def _redact_loose(text: str) -> str:
    """Something that is not one parseable URL (a list written as JSON, say): mask what looks secret."""
    text = _LOOSE_USERINFO.sub(rf"\1{MASK}@", text)
    text = _LOOSE_PARAM.sub(rf"\1={MASK}", text)
    return _LOOSE_TOKEN.sub(MASK, text)


def redact_text(text: str, urls: list[str]) -> str:
    """``text`` (an error message, say) with every occurrence of one of ``urls`` redacted, also where
    only its path and query appear (HTTP client errors quote ``with url: /path?query``)."""
    for url in sorted(urls, key=len, reverse=True):
        if not url:
            continue
        safe = redact_url(url)
        text = text.replace(url, safe)
        try:
            tail, safe_tail = _path_query(url), _path_query(safe)
        except ValueError:
            continue
        if tail not in ("", "/"):
            text = text.replace(tail, safe_tail)
    return text


def _path_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
