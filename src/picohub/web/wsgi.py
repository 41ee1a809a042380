"""The WSGI entry point gunicorn loads in picohub.service."""

import logging
import sys

from picohub import logs
from picohub.errors import PicohubError
from picohub.web import create_app

# picohub.service does not restart the app after this code: starting again cannot help
# (a database newer than this release knows, a missing state folder).
CANNOT_START = 3

logs.configure()
try:
    app = create_app()
except PicohubError as exc:
    logging.getLogger("picohub").critical("error: %s", exc)
    sys.exit(CANNOT_START)
