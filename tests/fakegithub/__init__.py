"""A fake GitHub for tests: the REST API for releases and their assets, uploads and downloads.

It answers in the shapes of the real REST API (api.github.com, API version 2022-11-28) and of
github.com's download URLs, on one local port:

- ``/api/...``      the REST API (``api_url``), e.g. ``/api/repos/OWNER/REPO/releases``
- ``/uploads/...``  the upload host (``upload_base``), named by each release's ``upload_url``
- ``/OWNER/REPO/releases/download/TAG/NAME`` and ``/OWNER/REPO/releases/latest/download/NAME``
  the asset downloads (``download_base``), which are not API calls and have no rate limit

As on GitHub: drafts are listed only to an authorised caller and never found by tag; the API
answers carry ``ETag`` and rate-limit headers, a matching ``If-None-Match`` gives 304, which is
free of quota only for an authorised caller; downloads carry ``ETag`` (the quoted sha256),
``Last-Modified`` and honour conditional and range requests. Asset names are renamed roughly as
GitHub does (characters other than ``A-Za-z0-9._-`` become ``.``).

As on GitHub too: a newly published release becomes "latest" unless ``make_latest`` is
``"false"`` (drafts and prereleases never are; seeded releases follow GitHub's legacy rule,
the newest); with ``immutable_releases`` set, a published release is locked (no asset
uploaded or deleted) and deleting it burns its tag (a 422 ``custom`` error names it).

Test knobs: :meth:`FakeGitHub.set_rate_limit`, :meth:`FakeGitHub.fail_uploads_after`,
:meth:`FakeGitHub.delay_digests` (an upload's ``digest`` is null at first),
:meth:`FakeGitHub.stall_downloads`, :meth:`FakeGitHub.endless_download`, :meth:`FakeGitHub.advance`
(moves the fake's clock, e.g. from an injected ``sleep``), ``redirect_downloads`` (answer a
download with a 302 to an object URL, as github.com does) and ``on_upload`` (called with the
release and the new asset, under the state lock). State can be seeded with :meth:`add_release`.

Run it as a process (e.g. inside another network namespace)::

    python -m tests.fakegithub --host 127.0.0.1 --port 8000 [--token T | --no-token]

It prints its base URL on stdout once listening and serves until SIGTERM or SIGINT.
"""

from tests.fakegithub.records import AssetRecord, LoggedRequest, ReleaseRecord, github_asset_name
from tests.fakegithub.server import FakeGitHub

__all__ = ["AssetRecord", "FakeGitHub", "LoggedRequest", "ReleaseRecord", "github_asset_name"]
