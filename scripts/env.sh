# Sourced by the scripts: where builds go, shared by every run on this machine.
# Cargo's output lives outside the checkout so fresh clones (and CI) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/zelly-target}"
# scripts/build-site (and cargo-leptos) write the site (pkg/zelly.js, .wasm, .css) here: next to
# the binary's folder, where the server finds it wherever it is started from.
export LEPTOS_SITE_ROOT="$CARGO_TARGET_DIR/site"
# Tools scripts/setup installs outside cargo: wasm-opt from binaryen's npm package.
ZELLY_TOOLS="${ZELLY_TOOLS:-$HOME/.cache/zelly-tools}"
BINARYEN_VERSION=132
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$ZELLY_TOOLS/node_modules/.bin:$PATH"
ZELLY_BIN="$CARGO_TARGET_DIR/debug/zelly-control"
export ZELLY_BIN
# Python environment of the AWS emulator (moto behind the proxy of tests/aws).
ZELLY_VENV="${ZELLY_VENV:-$HOME/.cache/zelly-venv}"
export ZELLY_TEST_PYTHON="$ZELLY_VENV/bin/python"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
