# syntax=docker/dockerfile:1
# The diffver binary (CLI, API, worker, publisher) on a distroless, non-root base: no
# shell, no package manager at run time.
#
#   docker build -t diffver .
#   docker run --rm -p 8080:8080 diffver serve --listen 0.0.0.0:8080
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p diffver-server --bin diffver \
 && cp target/release/diffver /diffver

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /diffver /usr/local/bin/diffver
# 65532: distroless's nonroot user. The embedded default writes under the working
# directory; production configurations (Postgres, S3) write nothing locally.
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/diffver"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
