#!/usr/bin/env bash
# The one test command (`npm test`): types, lint, then every test file under test/
# (and the conformance suites they call) with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== typecheck"; npx tsc --noEmit -p .
echo "== lint"; npx eslint --max-warnings 0 .

mapfile -t files < <(find test -name '*.test.ts' | sort)
if [ "${#files[@]}" -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
echo "== tests (${#files[@]} files)"
exec node --import tsx --test --test-concurrency="${KEYSHIFT_TEST_CONCURRENCY:-2}" \
  --test-timeout=300000 "${files[@]}"
