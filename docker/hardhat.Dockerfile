# syntax=docker/dockerfile:1
# The `chain` service: a Hardhat JSON-RPC node (chain id 31337) from the repository's own
# package.json and package-lock.json, so it runs the exact hardhat version CI tests with.
# Development only: its state lives in memory and is gone when the container stops.
FROM node:20.18.1-bookworm-slim
ENV HARDHAT_DISABLE_TELEMETRY_PROMPT=true \
    NODE_ENV=development
WORKDIR /opt/hardhat
COPY package.json package-lock.json hardhat.config.js ./
RUN npm ci --no-audit --no-fund --loglevel=error \
 && chown -R node:node /opt/hardhat
COPY docker/hardhat-healthcheck.js ./
USER node
EXPOSE 8545
CMD ["npx", "--no-install", "hardhat", "node", "--hostname", "0.0.0.0", "--port", "8545"]
