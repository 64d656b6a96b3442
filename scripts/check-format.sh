#!/usr/bin/env bash
# Fails, naming the files, when a C++ source differs from clang-format's
# layout (.clang-format); `make format` rewrites them.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(find common services clients cli tests bench \( -name '*.cc' -o -name '*.h' \) \
        -not -path '*/node_modules/*' -print0 |
      xargs -0 clang-format --dry-run 2>&1 |
      sed -n 's/^\([^:]*\.\(cc\|h\)\):[0-9]*:[0-9]*: warning:.*/\1/p' | sort -u)
if [ -n "$bad" ]; then
  echo "check-format: these files differ from clang-format (run: make format):" >&2
  echo "$bad" >&2
  exit 1
fi
