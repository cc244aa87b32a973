#!/usr/bin/env bash
# Install test dependencies and run the whole suite: lint + format (Python, TypeScript),
# TypeScript unit tests, then pytest (SQLite and PostgreSQL, REST, CLI, fuzzing, browser).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install.sh --test
# OS-isolation tests run the platform as root with POSIX isolation, which refuses a kernel
# that lets users hard-link files they do not own (systemd sets it to 1; a bare host may not)
if [[ $(id -u) -eq 0 && "$(cat /proc/sys/fs/protected_hardlinks 2>/dev/null)" == "0" ]]; then
  echo "test.sh: sysctl fs.protected_hardlinks=1"
  sysctl -q -w fs.protected_hardlinks=1 || echo 1 > /proc/sys/fs/protected_hardlinks || true
fi
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
