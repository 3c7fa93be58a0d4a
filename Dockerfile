# One image for every loadwise component (the manifests in configs/deploy pick the entry point).
# Build: docker build -t loadwise/loadwise:0.1.0 .

# Build stage: dependencies from the lockfile, the bundles, the native library.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc make libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && make -C native build/libvcuda-control.so

# Run stage: node and the bundles only. The bundles carry their dependencies, so no node_modules.
FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /src/dist ./dist
COPY --from=build /src/native/build/libvcuda-control.so ./native/build/libvcuda-control.so
COPY configs ./configs
# The agent runs as root (it reads the host's /proc and serves kubelet's device-plugin socket);
# the controller and extender Deployments set runAsUser 65534.
ENTRYPOINT []
CMD ["/app/dist/node-agent.mjs", "--help"]
