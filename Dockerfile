# One image for every AURA role; SERVICES picks what a container runs.
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY services ./services
COPY mixins ./mixins
COPY moleculer.config.ts tsconfig.json ./
COPY data ./data
COPY examples ./examples
USER node
EXPOSE 3000 9100
CMD ["node", "bin/aura.js", "start"]
