#!/usr/bin/env bash
# Install test dependencies and run the whole suite: lint + format (Python, TypeScript),
# TypeScript unit tests, then pytest (SQLite and PostgreSQL, REST, CLI, fuzzing, browser).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install.sh --test
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check .
ruff format --check .
echo "== eslint / prettier / tsc"
jlpm install --immutable >/dev/null 2>&1 || jlpm install
jlpm lint:check
jlpm build:lib
echo "== jest"
jlpm test
echo "== pytest"
# the slowest tests are listed at the end: where the time goes
exec python -m pytest --durations=25 "$@"
