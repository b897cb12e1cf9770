# One image for every AURA role; SERVICES picks what a container runs (docker-compose.yml, k8s/).
#
# build: installs every dependency and builds the dashboard (the root prepare script runs
# `npm run build -w web`), then drops the development dependencies.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# the dashboard bundles the example strategies and shares the strategy core (src/core) with the
# back end, so both must be present when the install builds it
COPY web ./web
COPY examples ./examples
COPY src ./src
RUN npm ci --include=dev --ignore-scripts=false \
 && test -f web/build/handler.js \
 && npm prune --omit=dev \
 && npm cache clean --force

# runtime: the back end's packages, the built dashboard and the sources tsx runs; no build tooling,
# no npm (nothing installs at run time, and its bundled packages would only add to what a scan finds)
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
    /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/web/package.json ./web/package.json
COPY --from=build /app/web/build ./web/build
COPY bin ./bin
COPY src ./src
COPY services ./services
COPY mixins ./mixins
COPY moleculer.config.ts tsconfig.json ./
COPY data ./data
# the image's node user, by number so Kubernetes can check runAsNonRoot
USER 1000:1000
EXPOSE 3000 9100 9101
CMD ["node", "bin/aura.js", "start"]
