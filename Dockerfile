# One image for every AURA role; SERVICES picks what a container runs.
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# the install builds the dashboard (the root prepare script), which needs the front-end tooling and
# the example strategies it bundles; the tooling is pruned once web/build exists
COPY web ./web
COPY examples ./examples
RUN npm ci --include=dev --ignore-scripts=false && npm prune --omit=dev && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY services ./services
COPY mixins ./mixins
COPY moleculer.config.ts tsconfig.json ./
COPY data ./data
USER node
EXPOSE 3000 9100
CMD ["node", "bin/aura.js", "start"]
