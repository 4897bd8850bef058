#!/usr/bin/env bash
# Lints an OpenAPI document with Redocly's CLI, installed from the npm
# registry on first use (npx caches it). Usage: scripts/lint-openapi.sh FILE
set -euo pipefail
exec npx --yes @redocly/cli@2.77.0 lint "$1"
