# meshcp image for the docker-compose demo.
FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY envoy ./envoy
RUN npx tsc -p tsconfig.json && ln -s /app/dist/src/cli/main.js /usr/local/bin/meshcp && chmod +x /app/dist/src/cli/main.js
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
