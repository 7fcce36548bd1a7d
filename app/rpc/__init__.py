"""A read-only JSON-RPC endpoint onto the app's own chain, for auditors of the demo.

The embedded chain lives inside the web process, so no separate node exists that
``ledgerline audit verify --rpc URL`` could ask.  ``POST /rpc`` answers the read-only
Ethereum JSON-RPC methods an auditor's verifier or a block explorer needs, and refuses
every method that could change state.  It is on by default only for an embedded chain
(``LEDGERLINE_PUBLIC_RPC``); with a real node, auditors should ask their own node.
"""
