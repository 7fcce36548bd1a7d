// Health check of the `chain` service: healthy once eth_chainId answers over JSON-RPC.
// Usage: node hardhat-healthcheck.js [url]   (default http://127.0.0.1:8545)
"use strict";

const url = process.argv[2] || "http://127.0.0.1:8545";
const request = { jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] };

fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(request),
  signal: AbortSignal.timeout(3000),
})
  .then((response) => response.json())
  .then((answer) => {
    if (typeof answer.result !== "string") {
      throw new Error(`no chain id in ${JSON.stringify(answer)}`);
    }
    console.log(`chain id ${parseInt(answer.result, 16)}`);
  })
  .catch((error) => {
    console.error(`${url}: ${error.message}`);
    process.exit(1);
  });
