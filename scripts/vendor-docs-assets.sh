#!/usr/bin/env bash
# Refresh the Swagger UI and ReDoc files that covetpy ships for /docs and /redoc
# (crates/embed/python/covetpy/static/), from the exact npm package versions pinned below.
#
#   scripts/vendor-docs-assets.sh
#
# To update: change SWAGGER_UI_VERSION / REDOC_VERSION, run this script, run
# tests/test_native_docs.py, and commit the changed files under static/ (manifest.json included).
#
# The tarball location and its sha512 come from the registry's metadata for that exact version
# (through `npm view`, so npm's configured registry is used); the download is fetched with curl and
# refused unless its sha512 matches. manifest.json records each package's version and integrity; a
# re-run of the same version that gets a different integrity fails, since a published npm version
# never changes. The files are copied byte for byte; the tests and CI use the committed copies and
# never run this script.
set -euo pipefail

SWAGGER_UI_VERSION="5.35.0" # npm package swagger-ui-dist (5.x)
REDOC_VERSION="2.5.4"       # npm package redoc (2.x)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
static="$root/crates/embed/python/covetpy/static"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

log() { printf 'vendor-docs-assets: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

for tool in npm curl tar python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is needed"
done

# fetch NAME VERSION: download NAME@VERSION's tarball, check its sha512, unpack it to $work/NAME.
# Prints the integrity string ("sha512-<base64>").
fetch() {
    local name="$1" version="$2"
    local meta="$work/$name.json"
    npm view "$name@$version" dist --json >"$meta" || die "npm view $name@$version failed"
    local tarball integrity
    tarball="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tarball"])' "$meta")"
    integrity="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["integrity"])' "$meta")"
    [[ "$integrity" == sha512-* ]] || die "$name@$version: the registry gives no sha512 integrity ($integrity)"
    log "$name@$version: $tarball"
    curl --fail --silent --show-error --location --retry 3 -o "$work/$name.tgz" "$tarball"
    python3 - "$work/$name.tgz" "$integrity" <<'PY' || die "$name@$version: sha512 mismatch"
import base64, hashlib, sys
path, integrity = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    actual = "sha512-" + base64.b64encode(hashlib.sha512(f.read()).digest()).decode()
if actual != integrity:
    sys.exit(f"expected {integrity}, downloaded {actual}")
PY
    mkdir -p "$work/$name"
    tar -xzf "$work/$name.tgz" -C "$work/$name"
    printf '%s\n' "$integrity"
}

# Refuse a pinned version whose registry integrity differs from the one recorded last time.
check_recorded() {
    local name="$1" version="$2" integrity="$3"
    [ -f "$static/manifest.json" ] || return 0
    python3 - "$static/manifest.json" "$name" "$version" "$integrity" <<'PY' ||
import json, sys
path, name, version, integrity = sys.argv[1:]
with open(path) as f:
    recorded = json.load(f).get("packages", {}).get(name, {})
if recorded.get("version") == version and recorded.get("integrity") != integrity:
    sys.exit(f"{name}@{version} was recorded with {recorded.get('integrity')}, the registry now says {integrity}")
PY
        die "refusing to replace $name@$version"
}

swagger_integrity="$(fetch swagger-ui-dist "$SWAGGER_UI_VERSION")"
redoc_integrity="$(fetch redoc "$REDOC_VERSION")"
check_recorded swagger-ui-dist "$SWAGGER_UI_VERSION" "$swagger_integrity"
check_recorded redoc "$REDOC_VERSION" "$redoc_integrity"

mkdir -p "$static"
# copy PACKAGE SOURCE DEST: one file from an unpacked tarball into static/.
copy() {
    local src="$work/$1/package/$2"
    [ -f "$src" ] || die "$1 has no $2"
    install -m 0644 "$src" "$static/$3"
}
copy swagger-ui-dist swagger-ui-bundle.js swagger-ui-bundle.js
copy swagger-ui-dist swagger-ui-bundle.js.LICENSE.txt swagger-ui-bundle.js.LICENSE.txt
copy swagger-ui-dist swagger-ui.css swagger-ui.css
copy swagger-ui-dist LICENSE LICENSE-swagger-ui-dist.txt
copy swagger-ui-dist NOTICE NOTICE-swagger-ui-dist.txt
copy redoc bundles/redoc.standalone.js redoc.standalone.js
copy redoc bundles/redoc.standalone.js.LICENSE.txt redoc.standalone.js.LICENSE.txt
copy redoc LICENSE LICENSE-redoc.txt
[ -f "$static/favicon.svg" ] || die "static/favicon.svg (covetpy's own icon, kept in git) is missing"

# manifest.json: where each file came from and its sha256, which the server uses as the ETag and
# as the ?v= cache-busting token of the asset URLs. Every file in static/ is listed.
python3 - "$static" "$SWAGGER_UI_VERSION" "$swagger_integrity" "$REDOC_VERSION" "$redoc_integrity" <<'PY'
import hashlib, json, os, sys
static, swagger_version, swagger_integrity, redoc_version, redoc_integrity = sys.argv[1:]
origin = {
    "swagger-ui-bundle.js": "swagger-ui-dist",
    "swagger-ui-bundle.js.LICENSE.txt": "swagger-ui-dist",
    "swagger-ui.css": "swagger-ui-dist",
    "LICENSE-swagger-ui-dist.txt": "swagger-ui-dist",
    "NOTICE-swagger-ui-dist.txt": "swagger-ui-dist",
    "redoc.standalone.js": "redoc",
    "redoc.standalone.js.LICENSE.txt": "redoc",
    "LICENSE-redoc.txt": "redoc",
    "favicon.svg": "covetpy",
}
files = {}
for name in sorted(os.listdir(static)):
    if name == "manifest.json":
        continue
    if name not in origin:
        sys.exit(f"static/{name} is not a file this script knows; remove it or list it here")
    with open(os.path.join(static, name), "rb") as f:
        files[name] = {"from": origin[name], "sha256": hashlib.sha256(f.read()).hexdigest()}
manifest = {
    "packages": {
        "swagger-ui-dist": {"version": swagger_version, "integrity": swagger_integrity},
        "redoc": {"version": redoc_version, "integrity": redoc_integrity},
    },
    "files": files,
}
with open(os.path.join(static, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
PY
log "wrote $static (swagger-ui-dist $SWAGGER_UI_VERSION, redoc $REDOC_VERSION)"
