"""picohub: a LAN-only IoT hub for Raspberry Pi Pico 2 W boards, with safe updates.

The running version reported to clients is the one dpkg installed (see
:mod:`picohub.installed`); ``__version__`` is the upstream version the wheel is built
with, kept equal to ``debian/changelog`` by the tests and the release tool.
"""

__version__ = "0.1.0"
