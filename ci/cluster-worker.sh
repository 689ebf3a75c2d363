#!/usr/bin/env bash
# Start one fuzzharness worker of a Dask cluster on this machine (issue 14).
#
#   ci/cluster-worker.sh tcp://SCHEDULER:8786 [THREADS]
#
# Run it from a checkout of the same commit as the campaign's client, on each machine
# that should fuzz (an SSH host, a Kubernetes container command, an HPC job, a cloud VM's
# start-up script). It installs fuzzharness with the cluster extra into .venv, builds the
# libraries the campaign's lanes load (the "build on each worker image" way; the other
# way is a build/ directory shared with, or copied from, a machine that built them, on the
# same OS and architecture), and runs `dask worker` with one thread per core: each thread
# runs one slice at a time, and a slice is a process of its own plus one worker process per
# target, as in a local campaign. Worker scratch files (each slice's findings and corpus
# before they are sent to the client) go to $FUZZHARNESS_WORKER_DIR.
set -euo pipefail
scheduler=${1:?usage: ci/cluster-worker.sh tcp://SCHEDULER:PORT [THREADS]}
threads=${2:-$(nproc)}
cd "$(dirname "$0")/.."
make setup
.venv/bin/pip install --quiet -e '.[cluster]'
make build build-mutants build-asan
make build-cov || echo "no cov build: the coverage lane's slices go to other workers (or the lane is unavailable)"
workdir=${FUZZHARNESS_WORKER_DIR:-/var/tmp/fuzzharness-worker}
mkdir -p "$workdir"
exec .venv/bin/dask worker "$scheduler" --nthreads "$threads" --local-directory "$workdir" \
  --name "fuzzharness-$(hostname)" ${FUZZHARNESS_WORKER_ARGS:-}
