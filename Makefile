# picohub's commands. Each installs what it needs first (packaging/dev/bootstrap: apt
# packages as root, a virtual environment in .venv); the system tests also build a cached
# Debian root in .cache/rootfs on first use.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/src:$(CURDIR)

.PHONY: all deps debs release test checks pytest lint typecheck unit-debian rootfs rootfs-arm64 pytest-arm64 faults demo bench bench-boards bench-fleet clean

all: debs

deps:
	@packaging/dev/bootstrap

## Build the Debian packages into dist/.
debs: deps
	$(BIN)/python -m picohub_release build --key local --dist dist --work build

## A signed flat apt repository in dist/repo/, signed with the local throwaway key
## (generated on first use in .cache/release-key/).
release: deps
	$(BIN)/python -m picohub_release release --key local --repo dist/repo

## Every test: lint and types, unit tests on Debian's Flask, then unit, integration and
## system tests, and the journeys on an emulated arm64. The three lanes run side by side.
test: deps
	@$(MAKE) --no-print-directory -j3 --output-sync=target checks pytest pytest-arm64

checks: lint typecheck unit-debian

lint:
	$(BIN)/ruff check src tests tools
	$(BIN)/ruff format --check src tests tools

typecheck:
	$(BIN)/mypy

# The device runs Debian's python3-flask 2.2, not PyPI's: the unit tests run on it too.
unit-debian:
	/usr/bin/python3 -m pytest -p no:cacheprovider -q tests/unit

# Two workers, a test module each at a time (its booted container is module-scoped; the
# module's journeys run on bookworm, then on trixie): the system tests mostly wait on
# booted containers, so two run side by side in about half the time. (xdist 3.8's
# loadgroup, which could split a module's two distributions, does not work with pytest 9:
# it renames test ids in a way pytest 9 no longer reads, and every test is then sent on
# its own, each booting its module's container again.)
pytest: rootfs
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=15 tests

# On arm64, what a Raspberry Pi runs, its programs run by qemu-user: several times slower,
# so in a lane of its own, on the journeys tests/system/distributions.py names
# (ARM64_JOURNEYS). A root that cannot be built is reported by the tests. The lane is
# shorter than the pytest lane and yields the CPU to it (nice; its containers inherit it),
# so make test takes as long as the pytest lane alone would.
pytest-arm64: rootfs-arm64
	nice -n 10 $(BIN)/pytest -q -p no:cacheprovider --distribution arm64 tests/system

rootfs:
	$(BIN)/python -m tests.system.rootfs bookworm
	$(BIN)/python -m tests.system.rootfs trixie

rootfs-arm64:
	-nice -n 10 $(BIN)/python -m tests.system.rootfs bookworm arm64

## The fault campaign: a power cut at every point of an update (one per journal step, and
## inside the download, each package's unpack and configure, the health wait and the
## rollback), then a boot; prints the table (also in tests/artifacts/faults-DISTRIBUTION.txt).
## make test runs a subset of it.
faults: deps rootfs
	PICOHUB_FAULTS=all $(BIN)/pytest -q -p no:cacheprovider tests/system/test_fault_campaign.py

## The whole journey on a booted bookworm standing in for the Pi, with a timeline:
## build and publish releases 1 and 2, install 1 with apt, update to 2 from the web API.
## DEMO_ARGS=--keep leaves it running.
demo: deps
	$(BIN)/python -m tools.demo $(DEMO_ARGS)

## The update benchmark: picohub against the naive swap and plain apt, in one run;
## writes bench/results.json and prints a table.
bench: deps
	$(BIN)/python -m tools.bench $(BENCH_ARGS)

## The board benchmark (issue #19): 50 boards' heartbeats, idle and while 50 others
## download a 2 MiB image at 64 KiB/s each; writes bench/boards.json and prints a table.
## BENCH_BOARDS_ARGS="--boards 10 --downloaders 10 --rate 262144" for a quick run.
bench-boards: deps
	$(BIN)/python -m tools.bench_boards $(BENCH_BOARDS_ARGS)

## The fleet benchmark (issue #18): 100 and 1000 simulated hawkBit controllers and one real
## hub against the local hawkBit-shaped server: polling load, bytes per hub per release, a
## rollout of two groups; writes bench/fleet.json and prints a table.
## BENCH_FLEET_ARGS="--controllers 100" for a quick run.
bench-fleet: deps
	$(BIN)/python -m tools.bench_fleet $(BENCH_FLEET_ARGS)

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache
