"""The demo's names and addresses: the fake GitHub's, the frontend's, the packages'."""

from __future__ import annotations

OWNER, REPO = "picohub", "picohub"  # the fake's defaults, and the updater's
SERVER_PORT = 8000
WEB = "http://127.0.0.1:8780"
TOKEN = "demo-token"  # the fake's one valid token, for publishing
PACKAGES = ("picohub", "picohub-web", "picohub-firmware")
KEYRING_IN_CONTAINER = "/etc/apt/keyrings"
# A flat repository, as the README documents it (apt asks for URL/./InRelease).
APT_DIST = "./"
