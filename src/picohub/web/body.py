"""A request's JSON body, read once and within bounds (:mod:`picohub.jsontext`)."""

from __future__ import annotations

from typing import Any

from flask import request

from picohub import jsontext
from picohub.web.errors import ApiError


def json_object(*, required: bool = False) -> dict[str, Any]:
    """The body as a JSON object: ``{}`` when there is none (unless ``required``), and a
    400 naming what is wrong when it is not JSON the hub accepts. The body's size was
    checked before (``picohub.web._limit_body``)."""
    raw = request.get_data(cache=False)
    if not raw:
        if required:
            raise ApiError(400, "invalid_json", "send a JSON object as the body")
        return {}
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        body = jsontext.loads(raw)
    except jsontext.JsonRefused as exc:
        raise ApiError(400, "invalid_json", f"the body is not acceptable JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body
