# The listener: built in a Rust image, run from a slim Debian image as an unprivileged user.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p listener --bin sellsy-listener

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /nonexistent listener \
 && mkdir /spool && chown listener /spool
COPY --from=build /src/target/release/sellsy-listener /usr/local/bin/sellsy-listener
USER listener
ENV LISTEN_ADDR=0.0.0.0:3000 SPOOL_DIR=/spool LOG_FORMAT=json
VOLUME /spool
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=2s CMD curl -fsS http://127.0.0.1:3000/readyz || exit 1
ENTRYPOINT ["sellsy-listener"]
