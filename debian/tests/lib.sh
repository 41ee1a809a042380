# Helpers for the tests in debian/tests (sourced from the source tree, which is each
# test's working directory; not a test itself). POSIX sh; HTTP through python3, which
# picohub depends on, so the tests need nothing the packages do not bring.

# shellcheck disable=SC2034 # used by the tests that source this
HEALTHZ=http://127.0.0.1:8080/healthz
WEB=http://127.0.0.1:8780
DEVICES=http://127.0.0.1:8080/api/devices

fail() {
	echo "FAIL: $*"
	exit 1
}

# http METHOD URL [JSON]: prints the answer's status (0 when nothing answers), a space and
# its body.
http() {
	python3 - "$@" <<'EOF'
import sys, urllib.error, urllib.request
method, url = sys.argv[1:3]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
request = urllib.request.Request(url, data=data, method=method)
if data is not None:
    request.add_header("Content-Type", "application/json")
try:
    with urllib.request.urlopen(request, timeout=10) as answer:
        status, body = answer.status, answer.read()
except urllib.error.HTTPError as error:
    status, body = error.code, error.read()
except OSError:
    status, body = 0, b""
print(status, body.decode(errors="replace"))
EOF
}

# healthz_version URL: the version a 200 "ok" answer of /healthz names, else nothing.
healthz_version() {
	http GET "$1" | python3 -c '
import json, sys
status, _, body = sys.stdin.read().partition(" ")
try:
    answer = json.loads(body)
except ValueError:
    sys.exit(0)
if status == "200" and answer.get("status") == "ok":
    print(answer["version"])'
}

# wait_healthy VERSION [URL]: until /healthz answers "ok" with VERSION (90 s at most).
wait_healthy() {
	tries=0
	while [ "$(healthz_version "${2:-$HEALTHZ}")" != "$1" ]; do
		tries=$((tries + 1))
		[ "$tries" -le 180 ] || fail "${2:-$HEALTHZ} does not answer ok with version $1"
		sleep 0.5
	done
}

installed_version() {
	dpkg-query --showformat='${Version}' --show "$1"
}

# heartbeat DEVICE: a board reports in; the registry must take it.
heartbeat() {
	answer=$(http POST "$DEVICES/$1/heartbeat" \
		'{"firmware_version": "1.0.0", "uptime_s": 42, "readings": {"temperature_c": 21.5}}')
	[ "${answer%% *}" = 200 ] || fail "heartbeat of $1: $answer"
}

# registered DEVICE: whether the registry lists it.
registered() {
	http GET "$DEVICES" | grep -q "\"id\": *\"$1\""
}
