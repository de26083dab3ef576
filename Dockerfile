# syntax=docker/dockerfile:1
# One image for the controller, the signal server and the built-in scenarios: its entrypoint is the
# product CLI (`chaosrun controller`, `chaosrun signal-server`, `chaosrun scenario ...`). Node 24 runs
# the TypeScript sources directly (type stripping), so the build is the production install alone.
# test/packaging/dockerfile.test.ts replays these steps without a Docker engine and hadolint checks
# this file.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: TypeScript and the pinned node binary are for developers.
RUN npm ci --omit=dev --no-audit --no-fund
COPY src ./src

# distroless: node and CA certificates, no shell or package manager to misuse at run time.
FROM gcr.io/distroless/nodejs24-debian12:nonroot
LABEL org.opencontainers.image.title="chaosrun-operator" \
      org.opencontainers.image.description="Kubernetes operator for chaos-engineering runs with krkn-style RUN/PAUSE/STOP signals" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/src ./src
# distroless's nonroot user, by number so the kubelet can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "src/cli.ts"]
CMD ["--help"]
