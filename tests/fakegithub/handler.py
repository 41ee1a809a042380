"""The fake's request handler: each request goes to the REST API, the upload host or
the downloads, by its path."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from tests.fakegithub.answers import NOT_FOUND, Answer
from tests.fakegithub.api import ApiRoutes
from tests.fakegithub.transfers import Transfers


class Handler(ApiRoutes, Transfers):
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        # "./" segments removed, as web servers normalise them (RFC 3986): apt asks a flat
        # repository "deb URL ./" for URL/./InRelease.
        path = re.sub(r"/(?:\./)+", "/", unquote(parts.path))
        self._query = parts.query
        self._logged_path = parts.path
        if path.startswith("/api/"):
            self._api(method, path.removeprefix("/api"))
        elif path.startswith("/uploads/") and method == "POST":
            self._upload(path.removeprefix("/uploads"))
        elif method == "GET":
            self._download(path)
        else:
            self._drain()
            self._respond("api", False, Answer(404, NOT_FOUND))
