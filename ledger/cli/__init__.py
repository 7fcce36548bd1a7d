"""The ``ledgerline`` command line.

Command groups, one module each: ``chain``, ``keys``, ``deploy``, ``registry`` (the
consortium), ``obligations``, ``cycles``, ``netting`` and ``reconcile`` (settlement), ``audit``
(approval-log evidence).

Every command that touches the chain takes:

* ``--rpc URL``: the chain (default ``LEDGERLINE_CHAIN_URL``, else the embedded chain at
  ``<instance>/chain.db``, where ``<instance>`` is ``LEDGERLINE_INSTANCE`` or ``./instance``);
* ``--keystore PATH`` (default ``LEDGERLINE_KEYSTORE``, else ``<instance>/keystore``);
* ``--deployment PATH`` (default ``LEDGERLINE_DEPLOYMENT_FILE``, else
  ``<instance>/deployment.json`` for the default chain, the web app's file, and
  ``<instance>/deployment-<chain id>.json`` for a chain given with ``--rpc``);
* ``--format text|json`` and ``--password-file FILE`` (else ``LEDGERLINE_KEY_PASSWORD``,
  else a prompt).

Commands that sign use ``--from ADDRESS`` (default: the keystore's only key): each
operator signs with its own key.  Batch commands show a progress bar on stderr when it is
a terminal, or with ``--progress``.

Errors are one ``error: …`` line on stderr, exit status 1 (2 for usage errors); set
``LEDGERLINE_DEBUG=1`` to see the traceback of an unexpected failure.
"""

from __future__ import annotations

from ledger.cli import (  # noqa: F401  (each module registers its command group)
    audit,
    chain,
    cycles,
    deploy,
    keys,
    netting,
    obligations,
    reconcile,
    registry,
)
from ledger.cli._app import cli, main

__all__ = ["cli", "main"]
