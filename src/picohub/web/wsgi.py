"""The WSGI entry point gunicorn loads in picohub.service."""

from picohub import logs
from picohub.web import create_app

logs.configure()
app = create_app()
