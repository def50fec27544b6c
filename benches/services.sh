#!/usr/bin/env bash
# HTTP functions under a real load generator (wrk), beside the same
# worker's static health endpoint (GET /v1/health, no guest): the median
# latency at concurrency 1 and requests per second at concurrency 32.
# Each pair runs ROUNDS times, alternating, and the medians are printed.
# Figures are recorded in docs/perf.md.
#
#   benches/services.sh            # installs wrk with apt if it is missing
#   SECONDS_EACH=10 ROUNDS=3 benches/services.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_EACH:-10}
rounds=${ROUNDS:-3}

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    sudo=$(command -v sudo || true)
    $sudo apt-get install -y wrk >&2
fi
cargo build --release -p ferry-cli >&2
ferry=$PWD/target/release/ferry

dir=$(mktemp -d)
worker=
cleanup() {
    [ -n "$worker" ] && kill "$worker" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
export FERRY_TOKEN=bench
"$ferry" worker --listen 127.0.0.1:0 --store "$dir/worker" >"$dir/worker.out" &
worker=$!
for _ in $(seq 50); do
    grep -q listening "$dir/worker.out" 2>/dev/null && break
    sleep 0.1
done
address=$(sed -n 's/^ferry worker listening on //p' "$dir/worker.out")
"$ferry" deploy examples/guest add --workers "$address" --store "$dir/client" >&2

cat >"$dir/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "[1, 2]"
wrk.headers["content-type"] = "application/json"
EOF

# One wrk run: the median latency in µs and the requests per second.
run() {
    local connections=$1 url=$2 script=()
    [ "${3:-}" = post ] && script=(-s "$dir/post.lua")
    wrk -t1 -c"$connections" -d"${seconds}s" --latency "${script[@]}" "$url" |
        awk '
            function us(v) {
                if (v ~ /us$/) return v + 0
                if (v ~ /ms$/) return v * 1000
                return v * 1000000
            }
            $1 == "50%" { median = us($2) }
            $1 == "Requests/sec:" { rps = $2 }
            END { printf "%.1f %.0f\n", median, rps }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for connections in 1 32; do
    : >"$dir/static" && : >"$dir/function"
    for _ in $(seq "$rounds"); do
        run "$connections" "http://$address/v1/health" >>"$dir/static"
        run "$connections" "http://$address/fn/add" post >>"$dir/function"
    done
    for what in static function; do
        latency=$(cut -d' ' -f1 "$dir/$what" | median)
        rps=$(cut -d' ' -f2 "$dir/$what" | median)
        echo "concurrency $connections  $what: median latency ${latency} µs, ${rps} requests/s"
    done
done
