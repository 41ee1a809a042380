"""Release tooling for picohub: runs on the build machine (CI or a developer's), never
on the device, and is not part of the ``picohub`` package."""
