# tokend: multi-stage build, small non-root runtime image.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends gcc g++ make && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bin tokend --example resource_server \
    && strip target/release/tokend target/release/examples/resource_server

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/tokend --create-home tokend
COPY --from=build /src/target/release/tokend /usr/local/bin/tokend
COPY --from=build /src/target/release/examples/resource_server /usr/local/bin/resource_server
USER tokend
WORKDIR /var/lib/tokend
ENV TOKEND_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["tokend"]
CMD ["serve"]
