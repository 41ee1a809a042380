"""The fake's REST API: releases and their assets, with ETags and rate limits."""

from __future__ import annotations

import hashlib
import json

from tests.fakegithub.answers import NOT_FOUND, Answer, json_object, message, validation_failed
from tests.fakegithub.base import HandlerBase
from tests.fakegithub.records import JSONType, ReleaseRecord, etag_matches

# GitHub's answer to a release on the tag of a deleted immutable release.
BURNT_TAG = validation_failed(
    "Release", "custom", "tag_name", "tag_name was used by an immutable release"
)


class ApiRoutes(HandlerBase):
    """The REST API of releases and assets (mixed into the handler)."""

    def _api(self, method: str, path: str) -> None:
        raw = self._drain()
        auth = self._auth()
        with self.fake.lock:
            answer = self._api_answer(method, path, raw, auth)
        self._respond("api", bool(auth), answer)

    def _api_answer(self, method: str, path: str, raw: bytes, auth: bool | None) -> Answer:
        budget = self.fake.budget(bool(auth))
        if auth is None:
            answer = Answer(401, message("Bad credentials"))
        elif budget.remaining <= 0:
            return self._rate_limited(budget, auth)
        elif method != "GET" and not auth:
            answer = Answer(401, message("Requires authentication"))
        else:
            answer = self._route(method, path, raw, auth)
        if answer.payload is not None:
            body = json.dumps(answer.payload, indent=1).encode()
            etag = f'W/"{hashlib.sha256(body).hexdigest()}"'
            answer.headers["ETag"] = etag
            answer.headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
            answer.headers["Vary"] = "Accept, Authorization"
            if (
                method == "GET"
                and answer.status == 200
                and etag_matches(self.headers.get("If-None-Match"), etag)
            ):
                answer = Answer(304, None, {"ETag": etag})
        # GitHub: a 304 is free only for an authorised request.
        if not (auth and answer.status == 304):
            budget.remaining -= 1
        answer.headers.update(self._rate_headers(budget))
        return answer

    def _route(self, method: str, path: str, raw: bytes, authorized: bool) -> Answer:
        fake = self.fake
        prefix = f"/repos/{fake.owner}/{fake.repo}/releases"
        if path != prefix and not path.startswith(prefix + "/"):
            return Answer(404, NOT_FOUND)
        rest = path.removeprefix(prefix).strip("/")
        segments = rest.split("/") if rest else []
        data = json_object(raw)
        answer = Answer(404, NOT_FOUND)
        match method, segments:
            case _, _ if data is None:
                answer = Answer(400, message("Problems parsing JSON"))
            case "GET", []:
                answer = self._list_releases(authorized)
            case "POST", []:
                answer = self._create_release(data)
            case "GET", ["latest"]:
                answer = self._found(fake.latest())
            case "GET", ["tags", tag]:
                found = fake.release_by_tag(tag)  # GitHub finds published releases only
                answer = self._found(found if found is not None and not found.draft else None)
            case "GET" | "DELETE", ["assets", asset_id]:
                answer = self._asset(method, asset_id, authorized)
            case _, [release_id, *tail] if release_id.isdigit():
                answer = self._release(method, int(release_id), tail, data, authorized)
        return answer

    def _found(self, release: ReleaseRecord | None) -> Answer:
        if release is None:
            return Answer(404, NOT_FOUND)
        return Answer(200, self.fake.release_json(release))

    def _page(self, items: list[JSONType], url: str) -> Answer:
        per_page = min(int(self._query_value("per_page") or 30), 100)
        page = max(int(self._query_value("page") or 1), 1)
        answer = Answer(200, items[(page - 1) * per_page : page * per_page])
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []
        if page < last:
            links.append(f'<{url}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{url}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{url}?per_page={per_page}&page=1>; rel="first"')
            links.append(f'<{url}?per_page={per_page}&page={page - 1}>; rel="prev"')
        if links:
            answer.headers["Link"] = ", ".join(links)
        return answer

    def _list_releases(self, authorized: bool) -> Answer:
        fake = self.fake
        items = [fake.release_json(rel) for rel in fake.newest_first(drafts=authorized)]
        return self._page(items, f"{fake.api_url}/repos/{fake.owner}/{fake.repo}/releases")

    def _create_release(self, data: JSONType) -> Answer:
        fake = self.fake
        tag = data.get("tag_name")
        if not isinstance(tag, str) or not tag:
            return Answer(422, validation_failed("Release", "missing_field", "tag_name"))
        if fake.release_by_tag(tag) is not None:
            return Answer(422, validation_failed("Release", "already_exists", "tag_name"))
        if tag in fake.burnt_tags:
            return Answer(422, BURNT_TAG)
        draft = bool(data.get("draft", False))
        now = fake.now()
        release = ReleaseRecord(
            id=fake.next_id(),
            tag_name=tag,
            name=data.get("name"),
            body=data.get("body"),
            draft=draft,
            prerelease=bool(data.get("prerelease", False)),
            created_at=now,
            published_at=None if draft else now,
            target_commitish=str(data.get("target_commitish") or "main"),
        )
        fake.releases.append(release)
        if not draft:
            fake.published(release, data.get("make_latest"))
        answer = Answer(201, fake.release_json(release))
        answer.headers["Location"] = answer.payload["url"]
        return answer

    def _release(
        self, method: str, release_id: int, tail: list[str], data: JSONType, authorized: bool
    ) -> Answer:
        fake = self.fake
        release = next((rel for rel in fake.releases if rel.id == release_id), None)
        if release is None or (release.draft and not authorized):
            return Answer(404, NOT_FOUND)
        match method, tail:
            case "GET", []:
                return Answer(200, fake.release_json(release))
            case "PATCH", []:
                return self._update_release(release, data)
            case "DELETE", []:
                fake.releases.remove(release)
                if release.immutable:
                    fake.burnt_tags.add(release.tag_name)
                return Answer(204)
            case "GET", ["assets"]:
                items = [fake.asset_json(release, asset) for asset in release.assets]
                return self._page(items, f"{fake.release_json(release)['url']}/assets")
        return Answer(404, NOT_FOUND)

    def _update_release(self, release: ReleaseRecord, data: JSONType) -> Answer:
        fake = self.fake
        tag = data.get("tag_name")
        if isinstance(tag, str) and tag != release.tag_name:
            if fake.release_by_tag(tag) is not None:
                return Answer(422, validation_failed("Release", "already_exists", "tag_name"))
            release.tag_name = tag
        for key in ("name", "body", "target_commitish"):
            if key in data:
                setattr(release, key, data[key])
        if "prerelease" in data:
            release.prerelease = bool(data["prerelease"])
        if "draft" in data and release.immutable and bool(data["draft"]):
            return Answer(422, message("Cannot change an immutable release into a draft."))
        if "draft" in data:
            release.draft = bool(data["draft"])
            if release.draft:
                release.published_at = None
            elif release.published_at is None:
                fake.published(release, data.get("make_latest"))
                return Answer(200, fake.release_json(release))
        if "make_latest" in data:
            fake.mark_latest(release, data["make_latest"])
        return Answer(200, fake.release_json(release))

    def _asset(self, method: str, asset_id: str, authorized: bool) -> Answer:
        fake = self.fake
        for release in fake.releases:
            for asset in release.assets:
                if str(asset.id) != asset_id or (release.draft and not authorized):
                    continue
                if method == "DELETE" and release.immutable:
                    return Answer(422, message("Cannot delete assets of an immutable release."))
                if method == "DELETE":
                    release.assets.remove(asset)
                    return Answer(204)
                return Answer(200, fake.asset_json(release, asset))
        return Answer(404, NOT_FOUND)
