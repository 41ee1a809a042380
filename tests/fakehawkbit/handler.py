"""The fake hawkBit's request handler: DDI under ``/{tenant}/controller/v1/``, the
Management API under ``/rest/v1/``."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from tests.fakehawkbit.ddi import DdiRoutes
from tests.fakehawkbit.mgmt import REST, MgmtRoutes


class Handler(DdiRoutes, MgmtRoutes):
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        parts = [unquote(part) for part in path.strip("/").split("/")]
        ddi_prefix = [self.fake.tenant, "controller", "v1"]
        if path.startswith(f"{REST}/"):
            self._mgmt(method, parts[2:])
        elif parts[:3] == ddi_prefix and len(parts) >= 4:
            self._ddi(method, parts[3], parts[4:])
        else:
            self.body()
            self.send_error_json(404, "hawkbit.server.error.repo.entitiyNotFound", "Not Found")
