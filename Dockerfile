# syntax=docker/dockerfile:1
# One image for the controller, the signal server and the built-in scenarios: its entrypoint is the
# product CLI (`chaosrun controller`, `chaosrun signal-server`, `chaosrun scenario ...`); it is the last
# stage, so a plain build makes it. A second target, `agent` (`--target agent`), is the node agent's
# image: the same dist/ on Debian with nft and nsenter (src/agent/main.ts). The build stage
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

# The node agent (a DaemonSet; charts/chaosrun-operator/templates/agent.yaml): it runs `nsenter --net=...
# nft -f -` in pod sandboxes, so it needs Debian's nftables and util-linux (nsenter; setpriv, which
# gives stressors and freeze guards their parent-death signal), stress-ng for stress faults, and
# iproute2 to look at a sandbox by hand. The build stage's own base, so node and the libraries are the ones dist/ was
# built and tested with. Root (no USER): the chart gives it exactly NET_ADMIN, SYS_ADMIN and SYS_PTRACE.
FROM node:24-bookworm-slim AS agent
# The packet delayer of delay faults (agent/delayer/, Go, static): compiled beforehand by
# agent/delayer/build.sh and put in the build context as .build/chaosrun-delayer (images.ts does both).
COPY .build/chaosrun-delayer /usr/local/bin/chaosrun-delayer
# Debian stable's packages: the release fixes their versions and only security fixes move them, and a
# pinned version vanishes from the mirror at the next point release, so they are not pinned here.
# No setuid or setgid file is left (su, mount, passwd...): the agent runs as root with three
# capabilities, and nothing in its image is a way to more.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nftables iproute2 util-linux stress-ng \
 && rm -rf /var/lib/apt/lists/* \
 && find / -xdev -type f -perm /6000 -exec chmod a-s {} + \
 && nft --version && nsenter --version && setpriv --version && stress-ng --version && chaosrun-delayer --version
LABEL org.opencontainers.image.title="chaosrun-agent" \
      org.opencontainers.image.description="The chaosrun node agent: holds lasting network faults in pod sandboxes as nftables leases" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
ENTRYPOINT ["node", "dist/cli.js", "agent"]

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
