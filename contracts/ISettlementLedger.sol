// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title ISettlementLedger
/// @notice Inter-operator settlement: obligations proposed by one party and confirmed or
/// disputed by the other, multilateral netting cycles per currency, settlement plans that
/// realise every net position, and the payments that settle them.
/// @dev The contract stores one packed slot per obligation (status, proposer side, amount,
/// cycle); the full record lives in the `ObligationProposed` event. Every later call passes
/// the record and its salt again and the contract recomputes the id, which commits to it.
///
/// Service type codes: 1 voice interconnect, 2 roaming, 3 transit, 4 SMS termination,
/// 5 A2P messaging, 6 data / IP transit, 7 signalling, 8 other.
interface ISettlementLedger {
    // ------------------------------------------------------------------ types

    /// @notice An obligation's state. `None` means "never proposed".
    enum ObligationStatus {
        None,
        Proposed,
        Confirmed,
        Disputed,
        Withdrawn,
        Amended
    }

    /// @notice A cycle's state: Open (collecting confirmations) → Closed → Planned (plan
    /// accepted) → Confirmed (every non-zero position confirmed, payments may start) →
    /// Settled (every transfer received).
    enum CycleStatus {
        None,
        Open,
        Closed,
        Planned,
        Confirmed,
        Settled
    }

    /// @notice A planned transfer's state.
    enum TransferStatus {
        None,
        Planned,
        Paid,
        Received
    }

    /// @notice The full record of an obligation: `debtor` owes `amount` minor units of
    /// `currency` to `creditor` for `serviceType` in billing `period`.
    /// @param currency ISO 4217 code, three upper-case letters
    /// @param amount integer minor units, 1 .. 2**96 - 1
    /// @param serviceType one of the service type codes (1..MAX_SERVICE_TYPE)
    /// @param period billing period YYYYMM, year 1970..9999, month 01..12
    /// @param externalRef hash of the invoice or agreement
    /// @param evidenceHash hash of the supporting evidence (CDR summary, usage report)
    struct Obligation {
        address debtor;
        address creditor;
        bytes3 currency;
        uint256 amount;
        uint8 serviceType;
        uint32 period;
        bytes32 externalRef;
        bytes32 evidenceHash;
    }

    /// @notice What the contract keeps of an obligation: one storage slot.
    /// @param proposedByDebtor whether the debtor (else the creditor) proposed it
    /// @param cycleId the cycle it joined when confirmed, 0 before
    struct ObligationState {
        ObligationStatus status;
        bool proposedByDebtor;
        uint96 amount;
        uint64 cycleId;
    }

    /// @notice One transfer of a settlement plan: `payer` pays `amount` to `payee`.
    struct Transfer {
        address payer;
        address payee;
        uint256 amount;
    }

    /// @notice A planned transfer as read back by `transfer`.
    struct TransferInfo {
        address payer;
        address payee;
        uint128 amount;
        TransferStatus status;
    }

    /// @notice A cycle as read back by `cycle`.
    /// @param grossValue sum of the amounts of the obligations that joined the cycle
    /// @param netValue sum of the amounts of the plan's transfers (0 before the plan)
    /// @param pendingPositions non-zero positions not yet confirmed (after the plan)
    /// @param outstandingTransfers transfers not yet received (after the plan)
    struct CycleInfo {
        bytes3 currency;
        CycleStatus status;
        uint64 cutoff;
        uint32 obligationCount;
        uint128 grossValue;
        uint16 participantCount;
        uint16 transferCount;
        uint16 pendingPositions;
        uint16 outstandingTransfers;
        uint256 netValue;
    }

    // ----------------------------------------------------------------- errors

    /// @notice `account` is not an active member of the registry (never admitted or suspended).
    error SettlementLedgerNotActiveMember(address account);
    /// @notice `account` is an active member but does not hold `role`.
    error SettlementLedgerMissingRole(bytes32 role, address account);
    /// @notice `counterparty` is not an active member holding the OPERATOR role.
    error SettlementLedgerCounterpartyNotOperator(address counterparty);
    /// @notice `caller` is neither the debtor nor the creditor of the record it proposes.
    error SettlementLedgerNotAParty(address caller, address debtor, address creditor);
    /// @notice The debtor and the creditor are the same `party`.
    error SettlementLedgerSameParty(address party);
    /// @notice `currency` is not three upper-case letters (ISO 4217).
    error SettlementLedgerInvalidCurrency(bytes3 currency);
    /// @notice `amount` is zero or does not fit in 96 bits.
    error SettlementLedgerInvalidAmount(uint256 amount);
    /// @notice `serviceType` is not a known service type code (1..maxServiceType).
    error SettlementLedgerInvalidServiceType(uint8 serviceType, uint8 maxServiceType);
    /// @notice `period` is not YYYYMM with year 1970..9999 and month 01..12.
    error SettlementLedgerInvalidPeriod(uint32 period);
    /// @notice An obligation with this id was already proposed.
    error SettlementLedgerDuplicateObligation(bytes32 obligationId);
    /// @notice No obligation has this id: it was never proposed, or the record or salt differ.
    error SettlementLedgerUnknownObligation(bytes32 obligationId);
    /// @notice Only the counterparty of the proposer may confirm or dispute; `caller` is not.
    error SettlementLedgerNotCounterparty(bytes32 obligationId, address caller);
    /// @notice Only the proposer may withdraw or amend; `caller` is not.
    error SettlementLedgerNotProposer(bytes32 obligationId, address caller);
    /// @notice The obligation is `status`, which does not allow this step.
    error SettlementLedgerInvalidObligationStatus(bytes32 obligationId, ObligationStatus status);
    /// @notice A dispute needs a non-zero reason code.
    error SettlementLedgerMissingDisputeReason(bytes32 obligationId);
    /// @notice An amendment must keep the debtor and creditor of the obligation it amends.
    error SettlementLedgerAmendmentChangesParties(bytes32 obligationId);
    /// @notice A batch must hold 1..maxSize items, not `size`.
    error SettlementLedgerInvalidBatchSize(uint256 size, uint256 maxSize);
    /// @notice A batch's arrays differ in length.
    error SettlementLedgerBatchLengthMismatch(uint256 obligations, uint256 values);
    /// @notice No cycle is open for `currency`: the clearing agent must open one first.
    error SettlementLedgerNoOpenCycle(bytes3 currency);
    /// @notice Cycle `cycleId` for `currency` is already open; close it first.
    error SettlementLedgerCycleAlreadyOpen(bytes3 currency, uint256 cycleId);
    /// @notice The cut-off must be later than the current block time `timestamp`.
    error SettlementLedgerInvalidCutoff(uint64 cutoff, uint256 timestamp);
    /// @notice The open cycle's cut-off passed at `cutoff`; it is now `timestamp`.
    error SettlementLedgerCycleCutoffPassed(uint256 cycleId, uint64 cutoff, uint256 timestamp);
    /// @notice No cycle has id `cycleId`.
    error SettlementLedgerUnknownCycle(uint256 cycleId);
    /// @notice The cycle is `status`, which does not allow this step.
    error SettlementLedgerInvalidCycleStatus(uint256 cycleId, CycleStatus status);
    /// @notice The cycle already has `maxParticipants` participants.
    error SettlementLedgerTooManyParticipants(uint256 cycleId, uint256 maxParticipants);
    /// @notice A plan must hold at most `maxTransfers` transfers, not `count`.
    error SettlementLedgerTooManyTransfers(uint256 count, uint256 maxTransfers);
    /// @notice Transfer `index` of the plan has a zero or over-wide `amount`.
    error SettlementLedgerInvalidTransferAmount(uint256 index, uint256 amount);
    /// @notice Transfer `index` of the plan pays `payer` to itself.
    error SettlementLedgerSelfTransfer(uint256 index, address payer);
    /// @notice `account` has no position in cycle `cycleId`, so no transfer may involve it.
    error SettlementLedgerNotParticipant(uint256 cycleId, address account);
    /// @notice The plan leaves `operator` at `got` instead of its net position `expected`.
    error SettlementLedgerPlanUnbalanced(
        uint256 cycleId, address operator, int256 expected, int256 got
    );
    /// @notice `operator`'s position in the cycle is zero: there is nothing to confirm.
    error SettlementLedgerNoPositionToConfirm(uint256 cycleId, address operator);
    /// @notice `operator` already confirmed its position in the cycle.
    error SettlementLedgerPositionAlreadyConfirmed(uint256 cycleId, address operator);
    /// @notice The cycle's plan has no transfer `index`.
    error SettlementLedgerUnknownTransfer(uint256 cycleId, uint256 index);
    /// @notice Only the transfer's payer may mark it paid; `caller` is not.
    error SettlementLedgerNotPayer(uint256 cycleId, uint256 index, address caller);
    /// @notice Only the transfer's payee may confirm receipt; `caller` is not.
    error SettlementLedgerNotPayee(uint256 cycleId, uint256 index, address caller);
    /// @notice Marking a transfer paid needs a non-zero payment reference.
    error SettlementLedgerMissingPaymentRef(uint256 cycleId, uint256 index);
    /// @notice The transfer was already marked paid.
    error SettlementLedgerTransferAlreadyPaid(uint256 cycleId, uint256 index);
    /// @notice The transfer has not been marked paid yet, so receipt cannot be confirmed.
    error SettlementLedgerTransferNotPaid(uint256 cycleId, uint256 index);
    /// @notice The transfer's receipt was already confirmed.
    error SettlementLedgerTransferAlreadyReceived(uint256 cycleId, uint256 index);

    // ----------------------------------------------------------------- events

    /// @notice `proposer` recorded an obligation; the event carries the full record and the
    /// salt needed to confirm it. Only the id is indexed and no amendment link is carried
    /// (ObligationAmended follows an amendment in the same transaction): each topic or
    /// word more would cost every proposal 120 to 375 gas of its 30,000 budget.
    event ObligationProposed(
        bytes32 indexed obligationId,
        address debtor,
        address creditor,
        bytes3 currency,
        uint256 amount,
        uint8 serviceType,
        uint32 period,
        bytes32 externalRef,
        bytes32 evidenceHash,
        bytes32 salt,
        address proposer
    );
    /// @notice The counterparty confirmed the obligation; it joined cycle `cycleId`.
    event ObligationConfirmed(bytes32 indexed obligationId, uint256 indexed cycleId);
    /// @notice The counterparty `disputer` disputed the obligation with a reason code.
    event ObligationDisputed(bytes32 indexed obligationId, address indexed disputer, uint16 reason);
    /// @notice The proposer withdrew the obligation.
    event ObligationWithdrawn(bytes32 indexed obligationId, address indexed proposer);
    /// @notice The proposer replaced the disputed obligation by `amendmentId`.
    event ObligationAmended(bytes32 indexed obligationId, bytes32 indexed amendmentId);
    /// @notice The clearing agent `openedBy` opened a cycle for `currency`.
    event CycleOpened(
        uint256 indexed cycleId, bytes3 indexed currency, uint64 cutoff, address openedBy
    );
    /// @notice The clearing agent closed the cycle; no obligation joins it any more.
    event CycleClosed(
        uint256 indexed cycleId,
        uint256 participantCount,
        uint256 obligationCount,
        uint256 grossValue,
        address closedBy
    );
    /// @notice Transfer `index` of the cycle's accepted plan.
    event TransferPlanned(
        uint256 indexed cycleId,
        uint256 index,
        address indexed payer,
        address indexed payee,
        uint256 amount
    );
    /// @notice The clearing agent's plan realises every net position and was accepted.
    /// `pendingPositions` operators with a non-zero position must now confirm it.
    event SettlementPlanSubmitted(
        uint256 indexed cycleId, uint256 transferCount, uint256 netValue, uint256 pendingPositions
    );
    /// @notice `operator` confirmed its net position; `remaining` positions are unconfirmed.
    event PositionConfirmed(
        uint256 indexed cycleId, address indexed operator, int256 position, uint256 remaining
    );
    /// @notice Every non-zero position of the cycle is confirmed: payments may start.
    event CyclePositionsConfirmed(uint256 indexed cycleId);
    /// @notice The payer marked transfer `index` paid with `paymentRef`.
    event TransferPaid(
        uint256 indexed cycleId,
        uint256 index,
        address indexed payer,
        address indexed payee,
        uint256 amount,
        bytes32 paymentRef
    );
    /// @notice The payee confirmed receipt of transfer `index`.
    event TransferReceived(
        uint256 indexed cycleId,
        uint256 index,
        address indexed payer,
        address indexed payee,
        uint256 amount
    );
    /// @notice Every transfer of the cycle was received (or there was none to make).
    event CycleSettled(uint256 indexed cycleId, uint256 transferCount, uint256 netValue);

    // ---------------------------------------------------------- obligations

    /// @notice Record an obligation between the caller and its counterparty.
    /// @dev Requires the caller to be an active OPERATOR and the debtor or the creditor;
    /// the other party an active OPERATOR; a valid currency, amount, service type and
    /// period; and no obligation with the same id. Emits ObligationProposed.
    /// @return id `obligationId(record, salt)`
    function propose(Obligation calldata record, bytes32 salt)
        external
        returns (bytes32 id);

    /// @notice Record many obligations at once, all or nothing: the normal path for volume.
    /// @dev Same requirements as `propose` for each record; 1..MAX_BATCH_SIZE records and as
    /// many salts. Emits one ObligationProposed per record.
    function proposeBatch(Obligation[] calldata records, bytes32[] calldata salts) external;

    /// @notice Confirm an obligation proposed by the caller's counterparty; it joins the open
    /// cycle of its currency and moves both parties' net positions.
    /// @dev Requires an active-OPERATOR caller who is the counterparty of the proposer, the
    /// obligation Proposed, an open cycle for its currency whose cut-off has not passed
    /// (`block.timestamp <= cutoff`; a confirmation with no open cycle or after the cut-off
    /// reverts and can be retried in the next cycle), and room for new participants. The
    /// proposer's standing is not checked again: a debt stays a debt if it was suspended.
    /// Emits ObligationConfirmed.
    function confirm(Obligation calldata record, bytes32 salt) external;

    /// @notice Confirm many obligations at once, all or nothing.
    /// @dev Same requirements as `confirm` for each; 1..MAX_BATCH_SIZE records and as many
    /// salts. Emits one ObligationConfirmed per record.
    function confirmBatch(Obligation[] calldata records, bytes32[] calldata salts) external;

    /// @notice Dispute an obligation proposed by the caller's counterparty.
    /// @dev Requires an active-OPERATOR caller who is the counterparty, the obligation
    /// Proposed, and a non-zero `reason`. Emits ObligationDisputed.
    function dispute(Obligation calldata record, bytes32 salt, uint16 reason) external;

    /// @notice Dispute many obligations at once, all or nothing.
    /// @dev Same requirements as `dispute` for each; 1..MAX_BATCH_SIZE records and as many
    /// salts and reasons. Emits one ObligationDisputed per record.
    function disputeBatch(
        Obligation[] calldata records,
        bytes32[] calldata salts,
        uint16[] calldata reasons
    ) external;

    /// @notice Withdraw an obligation the caller proposed.
    /// @dev Requires an active-OPERATOR caller who proposed it, and the obligation Proposed or
    /// Disputed (a confirmed obligation is final). Emits ObligationWithdrawn.
    function withdraw(Obligation calldata record, bytes32 salt) external;

    /// @notice Replace a disputed obligation the caller proposed by a new proposal.
    /// @dev Requires an active-OPERATOR caller who proposed `record`, `record` Disputed, and
    /// `amended` a valid new record between the same debtor and creditor (the `propose`
    /// requirements). `record` becomes Amended. Emits ObligationProposed for `amended`, then
    /// ObligationAmended.
    /// @return amendmentId the new obligation's id
    function amend(
        Obligation calldata record,
        bytes32 salt,
        Obligation calldata amended,
        bytes32 amendedSalt
    ) external returns (bytes32 amendmentId);

    // --------------------------------------------------------------- cycles

    /// @notice Open a settlement cycle for `currency` that accepts confirmations until `cutoff`.
    /// @dev Requires an active-CLEARING_AGENT caller, a valid currency with no open cycle, and
    /// `cutoff` later than the current block time. Emits CycleOpened.
    /// @return cycleId the new cycle's id (ids start at 1)
    function openCycle(bytes3 currency, uint64 cutoff) external returns (uint256 cycleId);

    /// @notice Close an open cycle; its net positions are final.
    /// @dev Requires an active-CLEARING_AGENT caller and the cycle Open. The agent may close
    /// it at any time, before or after the cut-off; confirmations for its currency then wait
    /// for the next cycle. O(1): net positions were maintained at each confirmation.
    /// Emits CycleClosed.
    function closeCycle(uint256 cycleId) external;

    /// @notice Submit the settlement plan of a closed cycle.
    /// @dev Requires an active-CLEARING_AGENT caller, the cycle Closed, at most MAX_TRANSFERS
    /// transfers, each between two distinct participants of the cycle with an amount of
    /// 1..2**128 - 1, and that the transfers realise every participant's net position
    /// exactly (received minus paid equals the position). O(participants + transfers).
    /// Emits one TransferPlanned per transfer and SettlementPlanSubmitted; then
    /// CyclePositionsConfirmed if no position is non-zero, and CycleSettled if moreover the
    /// plan is empty.
    function submitPlan(uint256 cycleId, Transfer[] calldata transfers) external;

    /// @notice Confirm the caller's non-zero net position in a planned cycle.
    /// @dev Requires an active-OPERATOR caller with a non-zero, unconfirmed position and the
    /// cycle Planned. Emits PositionConfirmed, and CyclePositionsConfirmed with the last one.
    function confirmPosition(uint256 cycleId) external;

    /// @notice Mark transfer `index` of the cycle paid, with the payment's reference.
    /// @dev Requires an active-OPERATOR caller who is its payer, every position of the cycle
    /// confirmed (status Confirmed), a non-zero `paymentRef`, and the transfer not paid yet.
    /// Emits TransferPaid.
    function markPaid(uint256 cycleId, uint256 index, bytes32 paymentRef) external;

    /// @notice Confirm receipt of transfer `index` of the cycle.
    /// @dev Requires an active-OPERATOR caller who is its payee, the cycle Confirmed, and the
    /// transfer paid and not received yet. Emits TransferReceived, and CycleSettled with the
    /// last one.
    function confirmReceived(uint256 cycleId, uint256 index) external;

    // ---------------------------------------------------------------- views

    /// @notice The id of `record` with `salt`:
    /// keccak256(abi.encode(debtor, creditor, currency, amount, serviceType, period,
    /// externalRef, evidenceHash, salt)).
    function obligationId(Obligation calldata record, bytes32 salt)
        external
        pure
        returns (bytes32);

    /// @notice What the ledger keeps of obligation `id` (all zero if never proposed).
    function obligationState(bytes32 id) external view returns (ObligationState memory);

    /// @notice Cycle `cycleId` (status None if it does not exist).
    function cycle(uint256 cycleId) external view returns (CycleInfo memory);

    /// @notice How many cycles were opened; ids run from 1 to this number.
    function cycleCount() external view returns (uint256);

    /// @notice The open cycle of `currency`, or 0 if none is open.
    function openCycleOf(bytes3 currency) external view returns (uint256);

    /// @notice `operator`'s net position in the cycle: positive receives, negative pays.
    function positionOf(uint256 cycleId, address operator) external view returns (int256);

    /// @notice Whether `operator` confirmed its position in the cycle.
    function isPositionConfirmed(uint256 cycleId, address operator) external view returns (bool);

    /// @notice Every operator with a position in the cycle, in order of first confirmation
    /// (at most MAX_PARTICIPANTS).
    function participants(uint256 cycleId) external view returns (address[] memory);

    /// @notice Transfer `index` of the cycle's plan. Reverts with SettlementLedgerUnknownTransfer.
    function transfer(uint256 cycleId, uint256 index) external view returns (TransferInfo memory);

    /// @notice How many transfers the cycle's plan holds.
    function transferCount(uint256 cycleId) external view returns (uint256);

    /// @notice The operator registry consulted for every permission.
    function registry() external view returns (address);
}
