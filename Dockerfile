# smtp-gateway in a container (docs/deployment.md). Two stages on Debian 12
# slim: the first compiles with Debian's -dev packages, the second holds the
# binary, its runtime libraries (the packages the first stage's -dev ones
# depend on) and CA certificates for HTTPS webhooks; no compiler, no shell
# tools beyond the base image's. It runs as uid 10025, never root, and
# listens on 2525: map port 25 to it (docker run -p 25:2525, or the
# Kubernetes Service in deploy/kubernetes/).
#
#   podman build --format docker -t smtp-gateway .   # docker format: OCI drops HEALTHCHECK
#   podman run -p 25:2525 -v ./gateway.toml:/etc/smtp-gateway/gateway.toml:ro smtp-gateway
#
# tests/deploy/test_container.py builds it and runs a message through it.

# Machines that reach Debian's mirror but no registry: scripts/container-base,
# then --build-arg BASE=localhost/debian:12-minbase.
ARG BASE=debian:12-slim

FROM ${BASE} AS build
# The package lists are the repository's own (scripts/packages-*.txt).
COPY scripts/packages-build.txt /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(grep -v '^#' /tmp/packages-build.txt) \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --prefix=/usr --sysconfdir=/etc -Dbuildtype=release -Db_ndebug=if-release \
 && meson compile -C /build gateway/smtp-gateway \
 && install -D -m 0755 /build/gateway/smtp-gateway /out/usr/sbin/smtp-gateway \
 && install -D -m 0644 deploy/container/gateway.toml /out/etc/smtp-gateway/gateway.toml

FROM ${BASE}
COPY scripts/packages-runtime.txt /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(grep -v '^#' /tmp/packages-runtime.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/packages-runtime.txt \
 && groupadd --gid 10025 smtpgw \
 && useradd --uid 10025 --gid 10025 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin smtpgw
COPY --from=build /out/ /
USER 10025:10025
EXPOSE 2525 9025
# /healthz on the admin listener ([admin] address, 127.0.0.1:9025 in the
# bundled container config), read with bash alone: the image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9025 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r -t 2 proto code rest <&3 && [ \"$code\" = 200 ]"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/sbin/smtp-gateway"]
CMD ["-c", "/etc/smtp-gateway/gateway.toml"]
