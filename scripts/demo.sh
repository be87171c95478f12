#!/usr/bin/env bash
# The demo: a throwaway nats-server 2.14 with JetStream on a free port and temporary storage,
# the sample incident published into SYSDIG_EVENTS, the window planned and exported to Parquet,
# the hunt pack run (with an HTML report), a process tree and a timeline, a few questions asked in
# SQL, the attack story, the stream archived twice (the second run finds nothing new) and the
# archive queried. The server and its storage are removed at the end; the dataset, the archive and
# the report stay in demo-output/ (replaced by the next run), to open and query afterwards.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${CARGO_TARGET_DIR:-$root/target}/debug/jsreplay"
server="$root/.tools/nats-server-2.14.0/nats-server"
[ -x "$bin" ] || { echo "demo: $bin missing: run 'make demo'" >&2; exit 1; }
[ -x "$server" ] || { echo "demo: $server missing: run scripts/install-deps.sh" >&2; exit 1; }

work="$(mktemp -d -t jsreplay-demo.XXXXXX)"
out="$root/demo-output"
rm -rf "$out"
mkdir -p "$out"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$server" -a 127.0.0.1 -p "$port" -js -sd "$work/js" >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q "Server is ready" "$work/server.log" && break; sleep 0.1; done
export NATS_URL="nats://127.0.0.1:$port"
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "load the sample incident (SysArmor events of three hosts) into SYSDIG_EVENTS" \
  "$bin" publish --stream SYSDIG_EVENTS --create "$root/sample-data/incident.ndjson.zst"
step "plan: what does the last 10 minutes of the stream hold?" \
  "$bin" plan --stream SYSDIG_EVENTS --since 10m
step "export the window to Parquet" \
  "$bin" export --stream SYSDIG_EVENTS --since 10m -o "$out/incident"
step "the dataset" find "$out/incident" -type f -printf '%P  %s bytes\n'
step "run the saved hunt pack, with an HTML report" \
  "$bin" hunt "$out/incident" --report "$out/report.html"
step "the attack story: hits linked across hosts, clocks aligned by the SSH hops" \
  "$bin" hunt "$out/incident" --story
step "what happened on the network: outbound connections to public addresses" \
  "$bin" query "$out/incident" "SELECT collector_id AS host, event_time, proc_name, proc_pname, fd_sip, fd_sport FROM events WHERE evt_type = 'connect' AND NOT is_private_ip(fd_sip) ORDER BY event_time"
step "the reverse shell's process tree (pid 23030 was reused: --at picks the process)" \
  "$bin" tree "$out/incident" --host web-01 --pid 23030
step "db-01 in the seconds around the upload, on its own clock" \
  "$bin" timeline "$out/incident" --host db-01 --since 2025-07-10T02:23:01Z --until 2025-07-10T02:23:04Z --format csv
step "payloads that needed repair or could not be read (kept as rows, raw bytes intact)" \
  "$bin" query "$out/incident" "SELECT parse_status, shape, count(*) AS n FROM events GROUP BY 1, 2 ORDER BY 3 DESC"
step "scheduled archival: everything new since the last run, into event-hour partitions" \
  "$bin" archive --stream SYSDIG_EVENTS --to "$out/archive" --event-time-window any
step "a second run finds nothing new (cron or a systemd timer runs it every few minutes)" \
  "$bin" archive --stream SYSDIG_EVENTS --to "$out/archive" --event-time-window any
step "the archive by event hour (s3:// URLs work the same)" \
  "$bin" query "$out/archive" "SELECT dt, hour, count(*) AS events, count(DISTINCT collector_id) AS hosts FROM events GROUP BY 1, 2 ORDER BY 1, 2"
step "one command from the stream: the last 10 minutes, hunted, nothing left behind" \
  "$bin" hunt --stream SYSDIG_EVENTS --since 10m --select lateral_movement
step "an SQL script through the shell (interactive when run on a terminal)" \
  "$bin" sql "$out/incident" <<'SQL'
.format table
SELECT collector_id AS host, count(*) AS events, count(DISTINCT proc_name) AS programs
  FROM events GROUP BY 1 ORDER BY 1;
.hunt lateral_movement/ssh_hop
SQL
echo
echo "demo: done; the server is stopped. What it made stays in demo-output/:"
echo "  the report:       open demo-output/report.html   (or xdg-open / a browser: one file, no network)"
echo "  the SQL shell:    ${bin} sql demo-output/incident   (.help inside; Ctrl-D leaves)"
echo "  the archive:      ${bin} sql demo-output/archive"
