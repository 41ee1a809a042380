"""A fake hawkBit for tests: its Direct Device Integration API and a part of its Management
API, on one local port (a threaded stdlib ``http.server``, as :mod:`tests.fakegithub`).

DDI (``/{tenant}/controller/v1/{controllerId}``, ``Authorization: TargetToken ...``): the
poll answer with ``config.polling.sleep`` and the links ``configData`` (a new target, after
a successful install, or when asked), ``deploymentBase`` (an open action), ``cancelAction``
(an action being canceled, offered instead of its deployment), ``installedBase``; ``PUT
configData`` (merge, replace, remove); ``GET deploymentBase/{id}`` with ``download``/``update``
derived from the action type (forced, soft = attempt, downloadonly = update skip) and
``maintenanceWindow`` when the assignment had one; ``POST .../feedback`` validated as
hawkBit's ``DdiActionFeedback`` is (status.execution and status.result.finished required);
``GET cancelAction/{id}`` and its feedback; artifact downloads
(``softwaremodules/{id}/artifacts/{name}``) with Range requests, only to a target with the
software assigned.

Management (``/rest/v1``, HTTP Basic ``admin:admin``): ``softwaremodules`` (create, read,
search with ``q``, list artifacts, artifact upload as multipart ``file`` with the hashes
``md5sum``/``sha1sum``/``sha256sum`` checked), ``distributionsets`` (create, read, search,
``assignedSM``); name and version unique (409) as in hawkBit; ``targets`` (create, read,
``attributes``, ``assignedDS``, cancel an action by ``DELETE .../actions/{id}``) and
``rollouts`` (create with ``groups`` or ``amountGroups``, success and error conditions,
``errorAction PAUSE``; ``start``, ``pause``, ``resume``; ``deploygroups``). How rollouts run
is :mod:`tests.fakehawkbit.rollouts`.

For tests: every operation is also a method (:meth:`FakeHawkbit.add_target`, ``assign``,
``create_rollout``...), and the fake records who was offered and who fetched which
deployment (``offered``, ``fetched``, :meth:`FakeHawkbit.fetched_by`), the feedback
(``feedback``, :meth:`FakeHawkbit.feedback_of`), the config data, per rollout group the
actions by state (:meth:`FakeHawkbit.group_counts`) and every request (``requests_log``).
Knobs: ``cut_after``/``cuts_left`` (a download stops after so many bytes, so many times),
``corrupt_downloads`` (one byte changed), ``sleep`` (the polling time it asks for),
:meth:`FakeHawkbit.open_window`.

Not modelled: gateway tokens, confirmation (user consent) flow, multi-assignments, target
filters beyond one ``key==pattern`` clause, searches beyond ``;``-joined ``==`` clauses,
time-forced actions turning forced, paging of targets and rollouts, locked distribution
sets, software module and set types (any key is taken).
"""

from tests.fakehawkbit.records import Condition, Feedback, LoggedRequest
from tests.fakehawkbit.server import FakeHawkbit

__all__ = ["Condition", "FakeHawkbit", "Feedback", "LoggedRequest"]
