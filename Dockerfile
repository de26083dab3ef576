# syntax=docker/dockerfile:1
# One image for the controller, the signal server and the built-in scenarios: its entrypoint is the
# product CLI (`chaosrun controller`, `chaosrun signal-server`, `chaosrun scenario ...`). The build stage
# compiles the TypeScript sources to JavaScript (dist/): Node could strip the types at start, but that
# loads a WebAssembly compiler into every process and costs the controller about 30 MiB of RSS.
# test/packaging/dockerfile.test.ts checks this file's shape and lints it; the e2e tests build it with
# buildah and run the image on the real node.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Every dependency, for TypeScript; no install scripts (the only one fetches the developers' pinned node).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-build-assets.ts ./scripts/
COPY src ./src
# Then production dependencies only.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# distroless: node and CA certificates, no shell or package manager to misuse at run time.
FROM gcr.io/distroless/nodejs24-debian12:nonroot
LABEL org.opencontainers.image.title="chaosrun-operator" \
      org.opencontainers.image.description="Kubernetes operator for chaos-engineering runs with krkn-style RUN/PAUSE/STOP signals" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# distroless's nonroot user, by number so the kubelet can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "dist/cli.js"]
CMD ["--help"]
