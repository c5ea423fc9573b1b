#!/bin/sh
# prefect-worker container: register the deployments of prefect.yaml, end the runs a worker that
# died left in flight, then run the pool's one worker.
# Re-running is safe: the pool is created only when missing and `prefect deploy` updates
# existing deployments in place, so `docker compose restart prefect-worker` picks up new flows.
set -eu

pool="${STACKWATCH_WORK_POOL:-stackwatch}"
cd "${STACKWATCH_HOME:-/app}"

if ! prefect work-pool inspect "$pool" >/dev/null 2>&1; then
  prefect work-pool create "$pool" --type process
fi
prefect --no-prompt deploy --all
# runs the last worker of this pool left in flight (container killed, host rebooted) would keep
# their flows' one-run-at-a-time slots, and every later run of those flows would be cancelled
python -m flows.orphans --work-pool "$pool"
exec prefect worker start --pool "$pool" --type process --with-healthcheck
