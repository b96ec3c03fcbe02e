#!/usr/bin/env bash
# Autobahn|Testsuite (fuzzingclient) against covetpy serving tests/apps/ws_echo.py.
#
#   scripts/autobahn.sh
#
# Runs cases 1.* to 10.*, and of 12.* and 13.* (permessage-deflate: every window-bits /
# no-context-takeover combination the suite offers) the first six message sizes of each
# section, and exits non-zero if any case's behavior is not OK, NON-STRICT or INFORMATIONAL.
# The larger 12/13 cases are bound by the Python 2.7 client's own deflate and take close to an
# hour; AUTOBAHN_CASES='12.*,13.*' runs them. The testsuite only runs on Python 2.7: without
# one this prints why and exits 0.
#
# Environment:
#   AUTOBAHN_PYTHON  Python 2.7 interpreter (default: python2.7 on PATH, then
#                    ~/.pyenv/versions/2.7.*/bin/python)
#   AUTOBAHN_DIR     virtualenv, spec and reports (default target/autobahn)
#   AUTOBAHN_CASES   comma-separated case patterns, regular expressions in which * is .*
#                    (default 1.*,...,10.*,12.*.[1-6]$,13.*.[1-6]$)
#   COVETPY_BIN      the server binary (default target/release/covetpy)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${AUTOBAHN_DIR:-$ROOT/target/autobahn}"
COVETPY_BIN="${COVETPY_BIN:-$ROOT/target/release/covetpy}"
CASES="${AUTOBAHN_CASES:-1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,12.*.[1-6]\$,13.*.[1-6]\$}"

log() { printf '==> autobahn: %s\n' "$*" >&2; }
die() {
    printf 'error: autobahn: %s\n' "$*" >&2
    exit 1
}

# --- Python 2.7 ------------------------------------------------------------------------
is_python27() {
    "$1" -c 'import sys; assert sys.version_info[:2] == (2, 7)' >/dev/null 2>&1
}

find_python27() {
    local candidate
    if [ -n "${AUTOBAHN_PYTHON:-}" ]; then
        is_python27 "$AUTOBAHN_PYTHON" && printf '%s\n' "$AUTOBAHN_PYTHON"
        return
    fi
    # A pyenv shim for python2.7 may be on PATH without a 2.7 selected; try each.
    for candidate in "$(command -v python2.7 || true)" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && is_python27 "$candidate"; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

if ! PY27="$(find_python27)"; then
    log "skipped: no Python 2.7 found (set AUTOBAHN_PYTHON); the testsuite needs it"
    exit 0
fi
[ -x "$COVETPY_BIN" ] || die "$COVETPY_BIN not found: build it first or set COVETPY_BIN"

# --- virtualenv with the testsuite --------------------------------------------------------
# The last releases that still run on Python 2.7, known to work together.
PACKAGES=(
    'autobahntestsuite==25.10.1'
    'autobahn==0.10.9'
    'Twisted==19.10.0'
    'txaio==2.1.0'
    'pyOpenSSL==19.1.0'
    'cryptography==3.3.2'
    'service-identity==18.1.0'
    'attrs==20.3.0'
    'zope.interface==4.6.0'
    'klein==17.10.0'
    'Werkzeug==1.0.1'
    'Jinja2==2.11.3'
    'MarkupSafe==1.1.1'
    'pyasn1==0.5.1'
    'pyasn1-modules==0.3.0'
    'cffi==1.15.1'
    'idna==2.10'
)
VENV="$WORK/venv"
if ! "$VENV/bin/python" -c 'import autobahntestsuite' >/dev/null 2>&1; then
    mkdir -p "$WORK"
    rm -rf "$VENV"
    if "$PY27" -m virtualenv --version >/dev/null 2>&1; then
        log "creating $VENV with $PY27 -m virtualenv"
        "$PY27" -m virtualenv -q "$VENV"
    else
        # virtualenv 20.21 is the last release that runs on Python 2.7; keep it out of
        # the interpreter's own site-packages.
        log "installing virtualenv for Python 2.7 into $WORK/virtualenv-tool"
        "$PY27" -m pip install -q --disable-pip-version-check \
            --target "$WORK/virtualenv-tool" 'virtualenv<20.22' 2>&1 |
            grep -v -e DEPRECATION -e 'Python 2.7' >&2 || true
        log "creating $VENV"
        PYTHONPATH="$WORK/virtualenv-tool" "$PY27" -m virtualenv -q "$VENV"
    fi
    log "installing ${PACKAGES[*]}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PACKAGES[@]}" 2>&1 |
        grep -v -e DEPRECATION -e 'Python 2.7' >&2 || true
    "$VENV/bin/python" -c 'import autobahntestsuite' || die "autobahntestsuite did not install"
fi
WSTEST="$VENV/bin/wstest"
[ -x "$WSTEST" ] || die "$WSTEST not found"

# --- server ----------------------------------------------------------------------------
PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
REPORTS="$WORK/reports"
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
SERVER_LOG="$WORK/covetpy.log"
# 9.* sends messages up to 16 MiB; pings are off so they do not mix into the cases.
"$COVETPY_BIN" serve ws_echo:app --app-dir "$ROOT/tests/apps" \
    --host 127.0.0.1 --port "$PORT" \
    --ws-max-size 67108864 --ws-ping-interval 0 --log-level warning \
    >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
cleanup() {
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

for _ in $(seq 1 150); do
    if "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2).close()" 2>/dev/null; then
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "covetpy exited at start-up; log: $SERVER_LOG"
    sleep 0.1
done

# --- run the fuzzing client -----------------------------------------------------------------
SPEC="$WORK/fuzzingclient.json"
"$VENV/bin/python" - "$SPEC" "$PORT" "$REPORTS" "$CASES" <<'EOF'
import json
import sys

spec_path, port, reports, cases = sys.argv[1:5]
spec = {
    "outdir": reports,
    "servers": [{"agent": "covetpy", "url": "ws://127.0.0.1:%s/echo" % port}],
    "cases": [c.strip() for c in cases.split(",") if c.strip()],
    "exclude-cases": [],
    "exclude-agent-cases": {},
}
with open(spec_path, "w") as handle:
    json.dump(spec, handle, indent=2)
EOF
log "running wstest -m fuzzingclient (cases $CASES) against 127.0.0.1:$PORT"
(cd "$WORK" && "$WSTEST" -m fuzzingclient -s "$SPEC") >"$WORK/wstest.log" 2>&1 ||
    die "wstest failed; see $WORK/wstest.log"

# --- verdict ------------------------------------------------------------------------------
"$VENV/bin/python" - "$REPORTS/index.json" <<'EOF'
import json
import sys
from collections import Counter

PASSING = ("OK", "NON-STRICT", "INFORMATIONAL")

with open(sys.argv[1]) as handle:
    index = json.load(handle)


def case_key(case_id):
    return [int(part) for part in case_id.split(".")]


failures = []
behaviors = Counter()
close_behaviors = Counter()
for agent, cases in sorted(index.items()):
    for case_id in sorted(cases, key=case_key):
        result = cases[case_id]
        behavior = result["behavior"]
        closing = result.get("behaviorClose", "")
        behaviors[behavior] += 1
        close_behaviors[closing] += 1
        if behavior not in PASSING or closing not in PASSING:
            failures.append((agent, case_id, behavior, closing))

total = sum(behaviors.values())
print("Autobahn|Testsuite fuzzingclient: %d cases" % total)
print("  behavior:      " + ", ".join("%s %d" % kv for kv in sorted(behaviors.items())))
print("  behaviorClose: " + ", ".join("%s %d" % kv for kv in sorted(close_behaviors.items())))
if failures:
    print("FAILED cases:")
    for agent, case_id, behavior, closing in failures:
        print("  %s %s: behavior %s, behaviorClose %s" % (agent, case_id, behavior, closing))
    sys.exit(1)
if total == 0:
    print("no cases ran")
    sys.exit(1)
print("all cases passed")
EOF
