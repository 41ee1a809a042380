"""The updater: check, fetch, apply and roll back picohub releases."""
