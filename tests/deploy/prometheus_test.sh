#!/usr/bin/env bash
# deploy/prometheus: the configuration and rules pass promtool, and the alert
# rules' unit tests pass.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root/deploy/prometheus"
promtool check config prometheus.yml
promtool check rules rules/*.yml
promtool test rules tests/*.yml
