#!/usr/bin/env bash
# The firegrid test command (named in the README; `.ci/run` calls it).
#
# 1. Installs the real servers the end-to-end tests talk to — Debian packages mosquitto, mosquitto-clients and
#    victoria-metrics — and the console's browser test's headless Chromium (chromium, chromium-driver, and
#    fonts-wqy-microhei for Chinese glyphs in its screenshots) when they are missing (apt-get, through sudo when not root);
#    influxdb (1.x) and prometheus for the deployment tests (tests/deploy_*.rs: dashboards, alert rules, promtool)
#    and the store-answer tests (tests/store_answers.rs); postgresql for the PostgreSQL incident store's tests (each
#    starts its own cluster with initdb in a temporary directory on a free port; Debian's own cluster on 5432 is
#    neither used nor disturbed). The TLS tests make their certificates with rcgen.
# 2. cargo fmt --check, cargo clippy -D warnings, cargo test over the whole workspace.
#
# The tests start their own mosquitto and VictoriaMetrics on free 127.0.0.1 ports in temporary directories and stop
# them (tests/support/mod.rs); a system mosquitto or victoria-metrics service, if any, is neither used nor disturbed.
# Extra arguments are passed to `cargo test`, e.g. `./scripts/test.sh -- --nocapture`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MOSQUITTO="${FIREGRID_TEST_MOSQUITTO:-/usr/sbin/mosquitto}"
VICTORIA_METRICS="${FIREGRID_TEST_VICTORIA_METRICS:-/usr/bin/victoria-metrics}"

if [[ ! -x "$MOSQUITTO" || ! -x "$VICTORIA_METRICS" ]] || ! command -v mosquitto_sub >/dev/null \
    || ! command -v mosquitto_pub >/dev/null || [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]] \
    || [[ ! -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]] \
    || [[ ! -x /usr/bin/influxd || ! -x /usr/bin/prometheus || ! -x /usr/bin/promtool ]] \
    || ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    echo "==> installing mosquitto, mosquitto-clients, victoria-metrics, chromium, chromium-driver, influxdb, prometheus and postgresql from Debian"
    if [[ "$(id -u)" -eq 0 ]]; then
        SUDO=()
    elif command -v sudo >/dev/null; then
        SUDO=(sudo)
    else
        echo "error: mosquitto/victoria-metrics are missing and this is not root and has no sudo" >&2
        exit 1
    fi
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        mosquitto mosquitto-clients victoria-metrics chromium chromium-driver fonts-wqy-microhei influxdb prometheus \
        postgresql
fi
for binary in "$MOSQUITTO" "$VICTORIA_METRICS" /usr/bin/chromium /usr/bin/chromedriver /usr/bin/influxd \
    /usr/bin/prometheus /usr/bin/promtool; do
    if [[ ! -x "$binary" ]]; then
        echo "error: $binary is still missing" >&2
        exit 1
    fi
done
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    echo "error: /usr/lib/postgresql/<version>/bin/initdb is still missing" >&2
    exit 1
fi
echo "==> $("$MOSQUITTO" -h 2>&1 | head -n 1 || true); victoria-metrics $(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null || echo '(version unknown)')"

if command -v rustup >/dev/null; then
    for component in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
            rustup component add "$component"
        fi
    done
fi

echo "==> cargo fmt"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> cargo test"
cargo test --workspace "$@"
