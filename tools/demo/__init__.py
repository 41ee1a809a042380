"""``python -m tools.demo [--keep]`` (``make demo``): issue #7's demo, an update from the
web page, end to end, on a stand-in Pi. Run it as root from a clone:

1. builds release 1 (this tree's version) and release 2 (the next version) with the
   release tool, each written as a signed flat apt repository (the local throwaway key,
   the one test builds pin in picohub's keyring);
2. starts a local server answering like GitHub on 127.0.0.1:8000 and publishes both with
   the release tool's ``publish`` (the API: a draft, every asset uploaded, published);
3. boots a Debian bookworm container sharing this machine's network (systemd-nspawn over
   the cached test root) and installs release 1 with apt from its published repository;
4. points the updater at the server, logs in at http://127.0.0.1:8780 as the frontend
   does, checks, installs release 2, follows it through the app's restart, and prints a
   timeline of what happened, taken from the container's journal and the web API.

Everything is removed at the end, on an error and on Ctrl-C. With ``--keep`` the container
and the server stay up, with the frontend to look at, until Ctrl-C.

Exit codes: 0 the update ended on release 2; 1 something failed (the message says what);
2 not run as root, a tool missing or a port busy (nothing was started); 130 interrupted.
"""
