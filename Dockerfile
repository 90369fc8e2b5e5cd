# syntax=docker/dockerfile:1
# firegrid container image: a multi-stage build — the workspace is compiled in the official Rust image, and only
# the binary lands in a slim Debian runtime that runs as an unprivileged user. docs/operations.md "Container image".
#
#   docker build -t firegrid:local .
#   docker run --rm firegrid:local check-config --config /etc/firegrid/firegrid.toml
#
# The image holds the sample configuration and registry under /etc/firegrid; mount your own over them.

# Any stable Rust at or above the workspace's rust-version (Cargo.toml); pin it for reproducible builds.
ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
# The registry and target caches survive between builds (BuildKit), so a source change rebuilds only firegrid.
RUN --mount=type=cache,target=/src/target,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --profile dist --locked --bin firegrid \
    && install -D -m 0755 target/dist/firegrid /out/firegrid

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: mqtts:// and https:// webhooks; curl: the container health check on /readyz.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 firegrid \
    && useradd --system --uid 10001 --gid firegrid --home-dir /var/lib/firegrid --shell /usr/sbin/nologin firegrid \
    && install -d -o firegrid -g firegrid -m 0750 /var/lib/firegrid
COPY --from=build /out/firegrid /usr/local/bin/firegrid
COPY deploy/firegrid.toml /etc/firegrid/firegrid.toml
COPY deploy/registry/ /etc/firegrid/registry/
ENV FIREGRID_REGISTRY__DEVICES=/etc/firegrid/registry/devices.csv \
    FIREGRID_REGISTRY__STATIONS=/etc/firegrid/registry/stations.csv \
    FIREGRID_REGISTRY__GRIDS=/etc/firegrid/registry/grids.csv \
    FIREGRID_DATA__DIR=/var/lib/firegrid \
    FIREGRID_HTTP__LISTEN=0.0.0.0:8080
USER 10001:10001
WORKDIR /var/lib/firegrid
VOLUME ["/var/lib/firegrid"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --retries=6 CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/firegrid"]
CMD ["run", "--config", "/etc/firegrid/firegrid.toml"]
