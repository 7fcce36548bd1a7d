// Hardhat serves only as a local JSON-RPC node (`hardhat node`) for the integration
// tests and `ledgerline --rpc http://127.0.0.1:8545`.  Contracts are compiled by
// scripts/compile_contracts.py into contracts/build, never by Hardhat, so its sources,
// cache and artifacts paths point at throwaway folders under node_modules.
"use strict";

module.exports = {
  solidity: "0.8.28",
  networks: {
    hardhat: {
      chainId: 31337,
      hardfork: "cancun",
    },
  },
  paths: {
    sources: "./node_modules/.hardhat/sources",
    cache: "./node_modules/.hardhat/cache",
    artifacts: "./node_modules/.hardhat/artifacts",
    tests: "./node_modules/.hardhat/tests",
  },
};
