"""The fake's uploads and downloads: conditional, ranged, stalled or endless on request."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterator
from contextlib import suppress

from tests.fakegithub.answers import NOT_FOUND, Answer, message, validation_failed
from tests.fakegithub.base import HandlerBase
from tests.fakegithub.records import AssetRecord, ReleaseRecord, etag_matches, github_asset_name


def _refused_upload(release: ReleaseRecord, name: str) -> Answer | None:
    if release.immutable:
        return Answer(422, message("Cannot upload assets to an immutable release."))
    if release.asset(name) is not None:
        return Answer(422, validation_failed("ReleaseAsset", "already_exists", "name"))
    return None


class Transfers(HandlerBase):
    """Uploads to the upload host and asset downloads (mixed into the handler)."""

    def _upload(self, path: str) -> None:
        fake = self.fake
        auth = self._auth()
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length_header is None:
            self.close_connection = True
            self._respond("upload", bool(auth), Answer(400, message("Content-Length required")))
            return
        length = int(length_header)
        data = self.rfile.read(length) if length else b""
        if len(data) != length:
            self.close_connection = True
        with fake.lock:
            budget = fake.budget(bool(auth))
            if auth is None:
                answer = Answer(401, message("Bad credentials"))
            elif not auth:
                answer = Answer(401, message("Requires authentication"))
            elif budget.remaining <= 0:
                answer = self._rate_limited(budget, auth)
            else:
                answer = self._store_upload(path, data, length)
                budget.remaining -= 1
                answer.headers.update(self._rate_headers(budget))
        self._respond("upload", bool(auth), answer)

    def _store_upload(self, path: str, data: bytes, length: int) -> Answer:
        fake = self.fake
        if len(data) != length:
            return Answer(400, message("Bad Content-Length: the body is shorter"))
        found = re.fullmatch(rf"/repos/{fake.owner}/{fake.repo}/releases/(\d+)/assets", path)
        release = None
        if found:
            release = next((rel for rel in fake.releases if rel.id == int(found[1])), None)
        if release is None:
            return Answer(404, NOT_FOUND)
        name = self._query_value("name")
        if not name:
            return Answer(422, validation_failed("ReleaseAsset", "missing_field", "name"))
        name = github_asset_name(name)
        refused = _refused_upload(release, name)
        if refused is not None:
            return refused
        if fake.take_upload_failure():
            return Answer(500, message("Server Error"))
        content_type = self.headers.get("Content-Type") or "application/octet-stream"
        asset = fake.new_asset(name, data, content_type)
        asset.label = self._query_value("label")
        asset.digest_pending = fake.digest_reads()
        release.assets.append(asset)
        fake.count_upload()
        if fake.on_upload is not None:
            fake.on_upload(release, asset)
        return Answer(201, fake.asset_json(release, asset))

    # -- downloads -------------------------------------------------------------------------

    def _find_download(self, path: str, authorized: bool) -> AssetRecord | None:
        fake = self.fake
        base = f"/{fake.owner}/{fake.repo}/releases/"
        release: ReleaseRecord | None = None
        name = ""
        if path.startswith(base + "latest/download/"):
            release, name = fake.latest(), path.removeprefix(base + "latest/download/")
        elif path.startswith(base + "download/"):
            tag, _, name = path.removeprefix(base + "download/").partition("/")
            release = fake.release_by_tag(tag)
            if release is not None and release.draft and not authorized:
                release = None
        elif path.startswith("/_objects/"):  # where redirect_downloads points
            wanted = path.removeprefix("/_objects/")
            for candidate in fake.releases:
                for asset in candidate.assets:
                    if str(asset.id) == wanted:
                        return asset
        return release.asset(name) if release is not None and name else None

    def _download(self, path: str) -> None:
        fake = self.fake
        authorized = bool(self._auth())
        with fake.lock:
            asset = self._find_download(path, authorized)
        if asset is None:
            self._respond("download", authorized, Answer(404), b"Not Found")
            return
        if fake.redirect_downloads and not path.startswith("/_objects/"):
            location = f"{fake.download_base}/_objects/{asset.id}"
            self._respond("download", authorized, Answer(302, None, {"Location": location}))
            return
        self._serve(asset, authorized)

    def _serve(self, asset: AssetRecord, authorized: bool) -> None:
        etag = f'"{asset.sha256}"'
        headers = {
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(int(asset.updated_at), usegmt=True),
            "Accept-Ranges": "bytes",
        }
        if self._not_modified(etag, asset.updated_at):
            self._respond("download", authorized, Answer(304, None, headers))
            return
        headers["Content-Type"] = "application/octet-stream"
        if self.fake.is_endless(asset.name):
            self._stream_endless(asset, headers, authorized)
            return
        status, start, end = 200, 0, asset.size
        byte_range = self.headers.get("Range")
        if byte_range is not None:
            parsed = parse_range(byte_range, asset.size)
            if parsed == "unsatisfiable":
                headers["Content-Range"] = f"bytes */{asset.size}"
                self._respond("download", authorized, Answer(416, None, headers))
                return
            if isinstance(parsed, tuple):
                status, (start, end) = 206, parsed
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{asset.size}"
        headers["Content-Length"] = str(end - start)
        self._log("download", authorized, status)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        with self.fake.lock:
            asset.download_count += 1
        if self.fake.stall_seconds() > 0:
            self.wfile.flush()
            if self.fake.stopping().wait(self.fake.stall_seconds()):
                self.close_connection = True
                return
        with suppress(ConnectionError):
            self._send_body(asset.name, asset.data[start:end])

    def _send_body(self, name: str, body: bytes) -> None:
        """The body; a .deb's stops halfway while the fake's hold file exists."""
        hold = self.fake.hold_debs_while
        if hold is None or not name.endswith(".deb") or not hold.exists():
            self.wfile.write(body)
            return
        half = len(body) // 2
        self.wfile.write(body[:half])
        self.wfile.flush()
        while hold.exists():
            if self.fake.stopping().wait(0.1):
                self.close_connection = True
                return
        self.wfile.write(body[half:])

    def _not_modified(self, etag: str, updated_at: float) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:  # it wins over If-Modified-Since (RFC 9110)
            return etag_matches(if_none_match, etag)
        since = self.headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            when = email.utils.parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
        return int(updated_at) <= when

    def _stream_endless(self, asset: AssetRecord, headers: dict[str, str], auth: bool) -> None:
        self.close_connection = True
        self._log("download", auth, 200)
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()
        for chunk in endless_chunks(asset.data):
            if self.fake.stopping().is_set():
                return
            try:
                self.wfile.write(chunk)
            except (ConnectionError, TimeoutError):
                return


def endless_chunks(first: bytes) -> Iterator[bytes]:
    yield first
    filler = b"\0" * 65536
    while True:
        yield filler


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(start, end) for one ``bytes=`` range, "unsatisfiable", or None to ignore the header."""
    found = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if found is None or found[1] == found[2] == "":
        return None  # not a form we know (or several ranges): answer the whole file
    if found[1] == "":  # bytes=-N: the last N bytes
        suffix = int(found[2])
        return (max(size - suffix, 0), size) if suffix > 0 and size > 0 else "unsatisfiable"
    start = int(found[1])
    end = min(int(found[2]) + 1, size) if found[2] else size
    if start >= size or end <= start:
        return "unsatisfiable"
    return start, end
