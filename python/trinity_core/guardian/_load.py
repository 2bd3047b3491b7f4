"""Where a checked page comes from, and what its requests may reach.

A page is checked as a browser loads it: at a URL, so its relative stylesheets, images and fonts
load. Local files are served from a virtual origin (``http://site.trinity.invalid/``, answered by
the route handler from the site's root directory, never by a server); an ``http(s)`` page may load
from its own origin. Every other request is aborted: the network is off except the page's base.
"""

from __future__ import annotations

import mimetypes
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from trinity_core import InvalidInputError, NotFoundError

#: Local pages are served from here (``.invalid`` is reserved: it can never reach a real host).
VIRTUAL_ORIGIN = "http://site.trinity.invalid"

Source = str | os.PathLike[str]


@dataclass(frozen=True)
class Action:
    """What the route handler does with one request."""

    kind: str  # "fulfill" | "continue" | "abort"
    status: int = 200
    body: bytes = b""
    content_type: str = ""


@dataclass(frozen=True)
class Target:
    """One page to check: the URL the browser navigates to, the HTML served there, and what else
    its requests may load (files under ``root`` at the virtual origin, or URLs under ``allow``)."""

    url: str
    html: str
    root: Path | None = None
    allow: str | None = None

    def with_html(self, html: str) -> Target:
        return replace(self, html=html)

    def route(self, url: str) -> Action:
        """The answer to a request for ``url``: the page itself, a file of the site, the network
        (same origin as an ``http(s)`` page only), or nothing."""
        bare = url.split("#", 1)[0]
        if bare == self.url.split("#", 1)[0]:
            return Action("fulfill", body=self.html.encode("utf-8"), content_type="text/html; charset=utf-8")
        if self.root is not None and bare.startswith(VIRTUAL_ORIGIN + "/"):
            return _serve_file(self.root, bare[len(VIRTUAL_ORIGIN) :])
        if self.allow is not None and bare.startswith(self.allow):
            return Action("continue")
        return Action("abort")


def _serve_file(root: Path, url_path: str) -> Action:
    path = urllib.parse.unquote(urllib.parse.urlsplit(url_path).path)
    file = (root / path.lstrip("/")).resolve()
    if file.is_dir():
        file = file / "index.html"
    if not file.is_relative_to(root) or not file.is_file():
        return Action("fulfill", status=404, body=b"not found", content_type="text/plain")
    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "image/svg+xml"):
        kind += "; charset=utf-8"
    return Action("fulfill", body=file.read_bytes(), content_type=kind)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "file://"))


def _file_path(source: Source) -> Path | None:
    """A path for a path-like, a ``file://`` URL, or a one-line string without markup (an HTML
    string has a ``<``; a mistyped file name is reported as missing, not checked as text)."""
    if isinstance(source, os.PathLike):
        return Path(source)
    if source.startswith("file://"):
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(source).path))
    if "<" not in source and "\n" not in source and 0 < len(source) < 4096:
        return Path(source)
    return None


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def _local(doc: Path, root: Path | None, html: str | None, *, trailing_slash: bool = False) -> Target:
    """A local page at ``doc`` (a file, or a directory for an HTML string's base) under ``root``."""
    doc = doc.resolve()
    site = Path(root).resolve() if root is not None else (doc if doc.is_dir() else doc.parent)
    if not doc.is_relative_to(site):
        raise InvalidInputError(f"guardian: {doc} is outside the site root {site}")
    rel = doc.relative_to(site).as_posix()
    url = VIRTUAL_ORIGIN + "/" + urllib.parse.quote("" if rel == "." else rel)
    if trailing_slash and not url.endswith("/"):
        url += "/"
    if html is None:
        try:
            html = doc.read_bytes().decode("utf-8")
        except FileNotFoundError as e:
            raise NotFoundError(f"guardian: no page at {doc}") from e
        except UnicodeDecodeError as e:
            raise InvalidInputError(f"guardian: {doc}: not valid UTF-8 ({e})") from e
    return Target(url=url, html=html, root=site)


def resolve(
    source: Source, *, base_url: str | os.PathLike[str] | None = None, root: Source | None = None
) -> tuple[Target, str | None]:
    """The page to check, and the ``http(s)`` URL whose HTML must still be downloaded (``None``
    when the HTML is known). ``source`` is a file path, a URL, or an HTML string; an HTML string
    loads its relative links from ``base_url`` (a URL, or a local file or directory). ``root`` is
    the site's root directory for local pages (root-relative links; default: the page's directory).
    """
    root_path = Path(root) if root is not None else None
    if not isinstance(source, os.PathLike) and source.startswith(("http://", "https://")):
        return Target(url=source, html="", allow=_origin(source)), source
    path = _file_path(source)
    if path is not None:
        if not path.exists():
            raise NotFoundError(f"guardian: no page at {path}")
        return _local(path, root_path, None), None
    html = str(source)
    if base_url is None:
        # Nothing to load but the page itself.
        return Target(url=VIRTUAL_ORIGIN + "/index.html", html=html), None
    base = os.fspath(base_url)
    if base.startswith(("http://", "https://")):
        return Target(url=base, html=html, allow=_origin(base)), None
    base_path = _file_path(base) if _is_url(base) else Path(base)
    if base_path is None:
        raise InvalidInputError(f"guardian: base_url {base!r} is neither a URL nor a local path")
    return _local(base_path, root_path, html, trailing_slash=base_path.is_dir()), None


def download(url: str, timeout: float = 30.0) -> str:
    """The HTML of an ``http(s)`` page, as UTF-8 text."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only
        raw: bytes = response.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInputError(f"guardian: {url}: not valid UTF-8 ({e})") from e
