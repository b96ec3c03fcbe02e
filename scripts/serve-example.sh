#!/usr/bin/env bash
# Build covetpy and serve pyapp_examples/fastapi_app.py.
#
#   scripts/serve-example.sh                 http://127.0.0.1:8000/
#   scripts/serve-example.sh --port 9000     extra arguments go to covetpy serve
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$COVETPY_ROOT"

covetpy_ensure_system_packages
covetpy_check_toolchain

covetpy_log "cargo build --release"
cargo build --release

covetpy_ensure_venv .venv-examples -r pyapp_examples/requirements.txt

export VIRTUAL_ENV="$COVETPY_ROOT/.venv-examples"
exec target/release/covetpy serve fastapi_app:app --app-dir pyapp_examples "$@"
