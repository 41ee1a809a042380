"""goosebit (PyPI ``goosebit``), a real server of hawkBit's DDI API, run for the tests.

goosebit serves SWUpdate's suricatta; picohub's DDI client is tested against it as against
a server it did not write (:mod:`tests.fakehawkbit` is the fake it did write).
:class:`Goosebit` starts it on a loopback port in a temporary folder and drives its REST
API (devices, software, assignment); :mod:`tests.goosebit.swu` wraps a picohub bundle in
the ``.swu`` goosebit insists on.
"""

from tests.goosebit.server import Goosebit, GoosebitError, installed
from tests.goosebit.swu import read_swu, write_swu

__all__ = ["Goosebit", "GoosebitError", "installed", "read_swu", "write_swu"]
