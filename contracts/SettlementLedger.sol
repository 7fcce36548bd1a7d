// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IOperatorRegistry} from "./IOperatorRegistry.sol";
import {ISettlementLedger} from "./ISettlementLedger.sol";

/// @title SettlementLedger
/// @notice Obligations between telecom operators, confirmed by each counterparty with its
/// own key, netted multilaterally per currency in settlement cycles and settled by the
/// transfers of a plan that realises every net position.
/// @dev Rules chosen where the issue leaves a choice:
/// - confirming needs an open cycle for the obligation's currency whose cut-off has not
///   passed; otherwise the confirmation reverts and is retried once the clearing agent has
///   opened the next cycle, so every Confirmed obligation belongs to exactly one cycle;
/// - the clearing agent may close a cycle at any time (before or after its cut-off);
/// - payments start only once every operator with a non-zero position confirmed it.
/// Gas: an obligation is one storage slot; batches check the caller's role once and each
/// distinct counterparty once; net positions move in O(1) per confirmation, so closing is
/// O(1) and verifying a plan is O(participants + transfers).
contract SettlementLedger is ISettlementLedger {
    /// @notice The registry role that proposes, confirms, disputes, pays and receives.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR");
    /// @notice The registry role that opens and closes cycles and submits their plans.
    bytes32 public constant CLEARING_AGENT_ROLE = keccak256("CLEARING_AGENT");

    /// @notice Most records in one batch call.
    uint256 public constant MAX_BATCH_SIZE = 500;
    /// @notice Most operators with a position in one cycle; bounds every loop over them.
    /// (The registry's own limit of 256 members, agents included, keeps it out of reach.)
    uint256 public constant MAX_PARTICIPANTS = 256;
    /// @notice Most transfers in one settlement plan.
    uint256 public constant MAX_TRANSFERS = 256;
    /// @notice Highest service type code (see ISettlementLedger for the list).
    uint8 public constant MAX_SERVICE_TYPE = 8;

    uint256 private constant _MAX_AMOUNT = 0xffffffffffffffffffffffff; // 2**96 - 1
    uint256 private constant _MIN_PERIOD = 197001; // January 1970
    uint256 private constant _MAX_PERIOD = 999912; // December 9999
    uint256 private constant _PERIOD_SPAN = 802912; // _MAX_PERIOD - _MIN_PERIOD + 1
    uint256 private constant _RECORDED = 0;
    uint256 private constant _MALFORMED = 1;
    uint256 private constant _DUPLICATE = 2;

    /// @dev Slot 0 is read and written by every confirmation; slot 1 once the plan exists.
    struct CycleRecord {
        bytes3 currency;
        CycleStatus status;
        uint64 cutoff;
        uint32 obligationCount;
        uint128 grossValue;
        uint16 transferCount;
        uint16 pendingPositions;
        uint16 outstandingTransfers;
        uint192 netValue;
    }

    /// @dev One slot; `index` is the 1-based place in the cycle's participant list, 0 for
    /// an operator that has no position in the cycle.
    struct PositionRecord {
        int128 net;
        uint16 index;
        bool confirmed;
    }

    /// @dev One slot; payer and payee are 0-based indices into the participant list.
    struct TransferRecord {
        uint16 payer;
        uint16 payee;
        TransferStatus status;
        uint128 amount;
    }

    /// @dev Counterparties already found to be active operators during one call; `last`
    /// starts as msg.sender, which is never a counterparty (debtor != creditor).
    struct CounterpartyCache {
        address last;
        address[] known;
        uint256 count;
    }

    IOperatorRegistry private immutable _registry;

    /// @dev An obligation's one slot, packed by `_pack`: status (bits 0-7), proposed by
    /// the debtor (bit 8), amount (bits 16-111), cycle id (bits 112-175).
    mapping(bytes32 obligationId => uint256) private _obligations;
    mapping(uint256 cycleId => CycleRecord) private _cycles;
    mapping(bytes3 currency => uint64 cycleId) private _openCycles;
    mapping(uint256 cycleId => mapping(address operator => PositionRecord)) private _positions;
    mapping(uint256 cycleId => address[]) private _participants;
    mapping(uint256 cycleId => mapping(uint256 index => TransferRecord)) private _transfers;
    uint64 private _cycleCount;

    /// @param registry_ the operator registry that says who is an active member with which role
    constructor(IOperatorRegistry registry_) {
        _registry = registry_;
    }

    // ---------------------------------------------------------- obligations

    /// @inheritdoc ISettlementLedger
    function propose(Obligation calldata record, bytes32 salt)
        external
        returns (bytes32 id)
    {
        _checkRole(OPERATOR_ROLE, msg.sender);
        id = _propose(record, salt, _newCache(1));
    }

    /// @inheritdoc ISettlementLedger
    function proposeBatch(Obligation[] calldata records, bytes32[] calldata salts) external {
        _checkRole(OPERATOR_ROLE, msg.sender);
        uint256 size = _checkBatch(records.length, salts.length);
        CounterpartyCache memory cache = _newCache(size);
        // i < size <= MAX_BATCH_SIZE, so the increment cannot overflow.
        for (uint256 i; i < size; ) {
            _propose(records[i], salts[i], cache);
            unchecked {
                ++i;
            }
        }
    }

    /// @inheritdoc ISettlementLedger
    function confirm(Obligation calldata record, bytes32 salt) external {
        _checkRole(OPERATOR_ROLE, msg.sender);
        _confirm(record, salt);
    }

    /// @inheritdoc ISettlementLedger
    function confirmBatch(Obligation[] calldata records, bytes32[] calldata salts) external {
        _checkRole(OPERATOR_ROLE, msg.sender);
        uint256 size = _checkBatch(records.length, salts.length);
        // i < size <= MAX_BATCH_SIZE, so the increment cannot overflow.
        for (uint256 i; i < size; ) {
            _confirm(records[i], salts[i]);
            unchecked {
                ++i;
            }
        }
    }

    /// @inheritdoc ISettlementLedger
    function dispute(Obligation calldata record, bytes32 salt, uint16 reason) external {
        _checkRole(OPERATOR_ROLE, msg.sender);
        _dispute(record, salt, reason);
    }

    /// @inheritdoc ISettlementLedger
    function disputeBatch(
        Obligation[] calldata records,
        bytes32[] calldata salts,
        uint16[] calldata reasons
    ) external {
        _checkRole(OPERATOR_ROLE, msg.sender);
        uint256 size = _checkBatch(records.length, salts.length);
        if (reasons.length != size) revert SettlementLedgerBatchLengthMismatch(size, reasons.length);
        // i < size <= MAX_BATCH_SIZE, so the increment cannot overflow.
        for (uint256 i; i < size; ) {
            _dispute(records[i], salts[i], reasons[i]);
            unchecked {
                ++i;
            }
        }
    }

    /// @inheritdoc ISettlementLedger
    function withdraw(Obligation calldata record, bytes32 salt) external {
        _checkRole(OPERATOR_ROLE, msg.sender);
        (bytes32 id, ObligationState memory state) = _asProposer(record, salt);
        ObligationStatus status = state.status;
        if (status != ObligationStatus.Proposed && status != ObligationStatus.Disputed) {
            revert SettlementLedgerInvalidObligationStatus(id, status);
        }
        _setStatus(id, state, ObligationStatus.Withdrawn);
        emit ObligationWithdrawn(id, msg.sender);
    }

    /// @inheritdoc ISettlementLedger
    function amend(
        Obligation calldata record,
        bytes32 salt,
        Obligation calldata amended,
        bytes32 amendedSalt
    ) external returns (bytes32 amendmentId) {
        _checkRole(OPERATOR_ROLE, msg.sender);
        (bytes32 id, ObligationState memory state) = _asProposer(record, salt);
        if (state.status != ObligationStatus.Disputed) {
            revert SettlementLedgerInvalidObligationStatus(id, state.status);
        }
        if (amended.debtor != record.debtor || amended.creditor != record.creditor) {
            revert SettlementLedgerAmendmentChangesParties(id);
        }
        amendmentId = _propose(amended, amendedSalt, _newCache(1));
        _setStatus(id, state, ObligationStatus.Amended);
        emit ObligationAmended(id, amendmentId);
    }

    // --------------------------------------------------------------- cycles

    /// @inheritdoc ISettlementLedger
    function openCycle(bytes3 currency, uint64 cutoff) external returns (uint256 cycleId) {
        _checkRole(CLEARING_AGENT_ROLE, msg.sender);
        _checkCurrency(currency);
        uint64 open = _openCycles[currency];
        if (open != 0) revert SettlementLedgerCycleAlreadyOpen(currency, open);
        if (cutoff <= block.timestamp) revert SettlementLedgerInvalidCutoff(cutoff, block.timestamp);
        uint64 id = ++_cycleCount;
        CycleRecord storage c = _cycles[id];
        c.currency = currency;
        c.status = CycleStatus.Open;
        c.cutoff = cutoff;
        _openCycles[currency] = id;
        emit CycleOpened(id, currency, cutoff, msg.sender);
        return id;
    }

    /// @inheritdoc ISettlementLedger
    function closeCycle(uint256 cycleId) external {
        _checkRole(CLEARING_AGENT_ROLE, msg.sender);
        CycleRecord storage c = _cycleIn(cycleId, CycleStatus.Open);
        c.status = CycleStatus.Closed;
        delete _openCycles[c.currency];
        emit CycleClosed(
            cycleId, _participants[cycleId].length, c.obligationCount, c.grossValue, msg.sender
        );
    }

    /// @inheritdoc ISettlementLedger
    function submitPlan(uint256 cycleId, Transfer[] calldata transfers) external {
        _checkRole(CLEARING_AGENT_ROLE, msg.sender);
        CycleRecord storage c = _cycleIn(cycleId, CycleStatus.Closed);
        uint256 count = transfers.length;
        if (count > MAX_TRANSFERS) revert SettlementLedgerTooManyTransfers(count, MAX_TRANSFERS);

        (int256[] memory got, uint256 netValue) = _recordTransfers(cycleId, transfers);
        uint256 pending = _checkRealised(cycleId, got);

        // count <= MAX_TRANSFERS and pending <= MAX_PARTICIPANTS both fit in 16 bits;
        // netValue <= 256 * 2**128 fits in 192 bits.
        c.transferCount = uint16(count);
        c.outstandingTransfers = uint16(count);
        c.pendingPositions = uint16(pending);
        c.netValue = uint192(netValue);
        if (pending != 0) {
            c.status = CycleStatus.Planned;
            emit SettlementPlanSubmitted(cycleId, count, netValue, pending);
            return;
        }
        c.status = count == 0 ? CycleStatus.Settled : CycleStatus.Confirmed;
        emit SettlementPlanSubmitted(cycleId, count, netValue, 0);
        emit CyclePositionsConfirmed(cycleId);
        if (count == 0) emit CycleSettled(cycleId, 0, 0);
    }

    /// @inheritdoc ISettlementLedger
    function confirmPosition(uint256 cycleId) external {
        _checkRole(OPERATOR_ROLE, msg.sender);
        CycleRecord storage c = _cycleIn(cycleId, CycleStatus.Planned);
        PositionRecord storage p = _positions[cycleId][msg.sender];
        int128 net = p.net;
        if (net == 0) revert SettlementLedgerNoPositionToConfirm(cycleId, msg.sender);
        if (p.confirmed) revert SettlementLedgerPositionAlreadyConfirmed(cycleId, msg.sender);
        p.confirmed = true;
        // Each non-zero position is confirmed once and was counted in pendingPositions.
        uint16 remaining;
        unchecked {
            remaining = c.pendingPositions - 1;
        }
        c.pendingPositions = remaining;
        emit PositionConfirmed(cycleId, msg.sender, net, remaining);
        if (remaining == 0) {
            c.status = CycleStatus.Confirmed;
            emit CyclePositionsConfirmed(cycleId);
        }
    }

    /// @inheritdoc ISettlementLedger
    function markPaid(uint256 cycleId, uint256 index, bytes32 paymentRef) external {
        _checkRole(OPERATOR_ROLE, msg.sender);
        CycleRecord storage c = _cycleIn(cycleId, CycleStatus.Confirmed);
        TransferRecord storage t = _transferIn(c, cycleId, index);
        address[] storage list = _participants[cycleId];
        address payer = list[t.payer];
        if (msg.sender != payer) revert SettlementLedgerNotPayer(cycleId, index, msg.sender);
        if (paymentRef == bytes32(0)) revert SettlementLedgerMissingPaymentRef(cycleId, index);
        if (t.status != TransferStatus.Planned) {
            revert SettlementLedgerTransferAlreadyPaid(cycleId, index);
        }
        t.status = TransferStatus.Paid;
        emit TransferPaid(cycleId, index, payer, list[t.payee], t.amount, paymentRef);
    }

    /// @inheritdoc ISettlementLedger
    function confirmReceived(uint256 cycleId, uint256 index) external {
        _checkRole(OPERATOR_ROLE, msg.sender);
        CycleRecord storage c = _cycleIn(cycleId, CycleStatus.Confirmed);
        TransferRecord storage t = _transferIn(c, cycleId, index);
        address[] storage list = _participants[cycleId];
        address payee = list[t.payee];
        if (msg.sender != payee) revert SettlementLedgerNotPayee(cycleId, index, msg.sender);
        TransferStatus status = t.status;
        if (status == TransferStatus.Planned) revert SettlementLedgerTransferNotPaid(cycleId, index);
        if (status == TransferStatus.Received) {
            revert SettlementLedgerTransferAlreadyReceived(cycleId, index);
        }
        t.status = TransferStatus.Received;
        // Each transfer is received once and was counted in outstandingTransfers.
        uint16 outstanding;
        unchecked {
            outstanding = c.outstandingTransfers - 1;
        }
        c.outstandingTransfers = outstanding;
        emit TransferReceived(cycleId, index, list[t.payer], payee, t.amount);
        if (outstanding == 0) {
            c.status = CycleStatus.Settled;
            emit CycleSettled(cycleId, c.transferCount, c.netValue);
        }
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ISettlementLedger
    function obligationId(Obligation calldata record, bytes32 salt)
        external
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                record.debtor,
                record.creditor,
                record.currency,
                record.amount,
                record.serviceType,
                record.period,
                record.externalRef,
                record.evidenceHash,
                salt
            )
        );
    }

    /// @inheritdoc ISettlementLedger
    function obligationState(bytes32 id) external view returns (ObligationState memory) {
        return _unpack(_obligations[id]);
    }

    /// @inheritdoc ISettlementLedger
    function cycle(uint256 cycleId) external view returns (CycleInfo memory info) {
        CycleRecord storage c = _cycles[cycleId];
        info = CycleInfo({
            currency: c.currency,
            status: c.status,
            cutoff: c.cutoff,
            obligationCount: c.obligationCount,
            grossValue: c.grossValue,
            participantCount: uint16(_participants[cycleId].length),
            transferCount: c.transferCount,
            pendingPositions: c.pendingPositions,
            outstandingTransfers: c.outstandingTransfers,
            netValue: c.netValue
        });
    }

    /// @inheritdoc ISettlementLedger
    function cycleCount() external view returns (uint256) {
        return _cycleCount;
    }

    /// @inheritdoc ISettlementLedger
    function openCycleOf(bytes3 currency) external view returns (uint256) {
        return _openCycles[currency];
    }

    /// @inheritdoc ISettlementLedger
    function positionOf(uint256 cycleId, address operator) external view returns (int256) {
        return _positions[cycleId][operator].net;
    }

    /// @inheritdoc ISettlementLedger
    function isPositionConfirmed(uint256 cycleId, address operator) external view returns (bool) {
        return _positions[cycleId][operator].confirmed;
    }

    /// @inheritdoc ISettlementLedger
    function participants(uint256 cycleId) external view returns (address[] memory) {
        return _participants[cycleId];
    }

    /// @inheritdoc ISettlementLedger
    function transfer(uint256 cycleId, uint256 index)
        external
        view
        returns (TransferInfo memory)
    {
        TransferRecord storage t = _transferIn(_cycles[cycleId], cycleId, index);
        address[] storage list = _participants[cycleId];
        return TransferInfo(list[t.payer], list[t.payee], t.amount, t.status);
    }

    /// @inheritdoc ISettlementLedger
    function transferCount(uint256 cycleId) external view returns (uint256) {
        return _cycles[cycleId].transferCount;
    }

    /// @inheritdoc ISettlementLedger
    function registry() external view returns (address) {
        return address(_registry);
    }

    // ------------------------------------------------------------- internals

    /// @dev The one role check: `account` must be an active member of the registry holding
    /// `role`. The second registry call only runs on failure, to name the reason.
    function _checkRole(bytes32 role, address account) private view {
        if (!_registry.hasRole(role, account)) {
            if (!_registry.isActiveMember(account)) revert SettlementLedgerNotActiveMember(account);
            revert SettlementLedgerMissingRole(role, account);
        }
    }

    /// @dev Validate `record` proposed by msg.sender, store its one slot, emit the full
    /// record, and check its counterparty (once per call thanks to `cache`). The work is
    /// done by `_record`; the readable checks of `_checkRecord` only run to name the error.
    function _propose(Obligation calldata record, bytes32 salt, CounterpartyCache memory cache)
        private
        returns (bytes32 id)
    {
        uint256 outcome;
        address counterparty;
        (id, outcome, counterparty) = _record(record, salt);
        if (outcome != _RECORDED) {
            if (outcome == _MALFORMED) _checkRecord(record);
            revert SettlementLedgerDuplicateObligation(id);
        }
        if (counterparty != cache.last) _checkCounterparty(counterparty, cache);
    }

    /// @dev The hot path of a proposal, in assembly because it runs once per obligation
    /// under a 30,000-gas budget of which the new storage slot (22,100), the event (3,685)
    /// and the calldata (about 2,500) leave little:
    /// 1. `wellFormed`: every condition of `_checkRecord` plus clean ABI words, without
    ///    branches (`lt(sub(x, lo), n)` holds exactly for lo <= x < lo + n, as x < lo wraps
    ///    around). If false, nothing is written: outcome `_MALFORMED`.
    /// 2. The id: a static struct's calldata is its ABI encoding, so the record is copied
    ///    to scratch memory once, the salt appended, and hashed (= `obligationId`).
    /// 3. The slot `_obligations[id]`: if taken, outcome `_DUPLICATE`; else it is written
    ///    as status Proposed | proposed by debtor (bit 8) | amount (bits 16-111).
    /// 4. ObligationProposed is logged from the same memory copy: its data words are the
    ///    record's fields, the salt and the proposer.
    function _record(Obligation calldata record, bytes32 salt)
        private
        returns (bytes32 id, uint256 outcome, address counterparty)
    {
        bytes32 topic = ObligationProposed.selector;
        assembly ("memory-safe") {
            let debtor := calldataload(record)
            let creditor := calldataload(add(record, 0x20))
            let byDebtor := eq(caller(), debtor)
            counterparty := creditor
            if iszero(byDebtor) { counterparty := debtor }
            let wellFormed := and(
                and(or(byDebtor, eq(caller(), creditor)), iszero(eq(debtor, creditor))),
                iszero(shr(160, counterparty))
            )
            {
                // Three letters at once: every byte b < 0x80, b + 0x3f >= 0x80 (b >= 'A')
                // and b + 0x25 < 0x80 (b <= 'Z'); no sum carries into the next byte.
                let currency := calldataload(add(record, 0x40))
                let c := shr(232, currency)
                wellFormed := and(
                    and(wellFormed, iszero(shl(24, currency))),
                    and(
                        iszero(and(or(c, add(c, 0x252525)), 0x808080)),
                        eq(and(add(c, 0x3f3f3f), 0x808080), 0x808080)
                    )
                )
            }
            {
                let period := calldataload(add(record, 0xa0))
                wellFormed := and(
                    and(wellFormed, lt(sub(calldataload(add(record, 0x60)), 1), _MAX_AMOUNT)),
                    and(
                        lt(sub(calldataload(add(record, 0x80)), 1), MAX_SERVICE_TYPE),
                        and(lt(sub(period, _MIN_PERIOD), _PERIOD_SPAN), lt(sub(mod(period, 100), 1), 12))
                    )
                )
            }
            outcome := _MALFORMED
            if wellFormed {
                let ptr := mload(0x40)
                calldatacopy(ptr, record, 0x100)
                mstore(add(ptr, 0x100), salt)
                id := keccak256(ptr, 0x120)
                mstore(0x00, id)
                mstore(0x20, _obligations.slot)
                let slot := keccak256(0x00, 0x40)
                outcome := _DUPLICATE
                if iszero(sload(slot)) {
                    outcome := _RECORDED
                    sstore(slot, or(or(1, shl(8, byDebtor)), shl(16, calldataload(add(record, 0x60)))))
                    mstore(add(ptr, 0x120), caller())
                    log2(ptr, 0x140, topic, id)
                }
            }
        }
    }

    /// @dev The readable form of `_record`'s `wellFormed`: revert with the precise error for
    /// the first field of `record` that msg.sender may not propose. Only runs on that
    /// failure path. (A word with dirty high bits, which no ABI encoder produces, makes the
    /// field accessors revert without data.)
    function _checkRecord(Obligation calldata record) private view {
        address debtor = record.debtor;
        address creditor = record.creditor;
        if (msg.sender != debtor && msg.sender != creditor) {
            revert SettlementLedgerNotAParty(msg.sender, debtor, creditor);
        }
        if (debtor == creditor) revert SettlementLedgerSameParty(debtor);
        _checkCurrency(record.currency);
        uint256 amount = record.amount;
        if (amount == 0 || amount > _MAX_AMOUNT) revert SettlementLedgerInvalidAmount(amount);
        uint8 serviceType = record.serviceType;
        if (serviceType == 0 || serviceType > MAX_SERVICE_TYPE) {
            revert SettlementLedgerInvalidServiceType(serviceType, MAX_SERVICE_TYPE);
        }
        uint32 period = record.period;
        uint32 month = period % 100;
        if (period < _MIN_PERIOD || period > _MAX_PERIOD || month == 0 || month > 12) {
            revert SettlementLedgerInvalidPeriod(period);
        }
    }

    /// @dev Confirm one obligation as msg.sender and move both net positions of the open
    /// cycle of its currency.
    function _confirm(Obligation calldata record, bytes32 salt) private {
        (bytes32 id, ObligationState memory s) = _asCounterparty(record, salt);
        if (s.status != ObligationStatus.Proposed) {
            revert SettlementLedgerInvalidObligationStatus(id, s.status);
        }
        bytes3 currency = record.currency;
        uint64 cycleId = _openCycles[currency];
        if (cycleId == 0) revert SettlementLedgerNoOpenCycle(currency);
        CycleRecord storage c = _cycles[cycleId];
        uint64 cutoff = c.cutoff;
        if (block.timestamp > cutoff) {
            revert SettlementLedgerCycleCutoffPassed(cycleId, cutoff, block.timestamp);
        }
        uint96 amount = s.amount;
        _obligations[id] = _pack(ObligationStatus.Confirmed, s.proposedByDebtor, amount, cycleId);
        // amount < 2**96 fits in int128.
        int128 delta = int128(uint128(amount));
        _move(cycleId, record.debtor, -delta);
        _move(cycleId, record.creditor, delta);
        uint32 obligations = c.obligationCount + 1;
        c.obligationCount = obligations;
        // obligationCount < 2**32 (checked above) and each amount < 2**96, so the gross value
        // stays below 2**128.
        unchecked {
            c.grossValue += amount;
        }
        emit ObligationConfirmed(id, cycleId);
    }

    function _dispute(Obligation calldata record, bytes32 salt, uint16 reason) private {
        (bytes32 id, ObligationState memory state) = _asCounterparty(record, salt);
        if (state.status != ObligationStatus.Proposed) {
            revert SettlementLedgerInvalidObligationStatus(id, state.status);
        }
        if (reason == 0) revert SettlementLedgerMissingDisputeReason(id);
        _setStatus(id, state, ObligationStatus.Disputed);
        emit ObligationDisputed(id, msg.sender, reason);
    }

    /// @dev The known obligation `record` whose counterparty (not its proposer) is msg.sender.
    function _asCounterparty(Obligation calldata record, bytes32 salt)
        private
        view
        returns (bytes32 id, ObligationState memory state)
    {
        (id, state) = _known(record, salt);
        address counterparty = state.proposedByDebtor ? record.creditor : record.debtor;
        if (msg.sender != counterparty) revert SettlementLedgerNotCounterparty(id, msg.sender);
    }

    /// @dev The known obligation `record` proposed by msg.sender.
    function _asProposer(Obligation calldata record, bytes32 salt)
        private
        view
        returns (bytes32 id, ObligationState memory state)
    {
        (id, state) = _known(record, salt);
        address proposer = state.proposedByDebtor ? record.debtor : record.creditor;
        if (msg.sender != proposer) revert SettlementLedgerNotProposer(id, msg.sender);
    }

    function _known(Obligation calldata record, bytes32 salt)
        private
        view
        returns (bytes32 id, ObligationState memory state)
    {
        id = _hash(record, salt);
        uint256 word = _obligations[id];
        if (word == 0) revert SettlementLedgerUnknownObligation(id);
        state = _unpack(word);
    }

    /// @dev Store the plan's transfers and add each to the running balance `got` of its
    /// payer and payee (indexed like the participant list).
    function _recordTransfers(uint256 cycleId, Transfer[] calldata transfers)
        private
        returns (int256[] memory got, uint256 netValue)
    {
        got = new int256[](_participants[cycleId].length);
        uint256 count = transfers.length;
        // i < count <= MAX_TRANSFERS and each amount < 2**128, so netValue < 2**136.
        unchecked {
            for (uint256 i; i < count; ++i) {
                netValue += _recordTransfer(cycleId, i, transfers[i], got);
            }
        }
    }

    function _recordTransfer(
        uint256 cycleId,
        uint256 index,
        Transfer calldata t,
        int256[] memory got
    ) private returns (uint256 amount) {
        address payer = t.payer;
        address payee = t.payee;
        amount = t.amount;
        if (amount == 0 || amount > type(uint128).max) {
            revert SettlementLedgerInvalidTransferAmount(index, amount);
        }
        if (payer == payee) revert SettlementLedgerSelfTransfer(index, payer);
        uint256 from = _participantIndex(cycleId, payer);
        uint256 to = _participantIndex(cycleId, payee);
        // At most MAX_TRANSFERS amounts below 2**128 each move a balance: far inside int256.
        unchecked {
            got[from] -= int256(amount);
            got[to] += int256(amount);
        }
        _transfers[cycleId][index] = TransferRecord({
            payer: uint16(from),
            payee: uint16(to),
            status: TransferStatus.Planned,
            amount: uint128(amount)
        });
        emit TransferPlanned(cycleId, index, payer, payee, amount);
    }

    /// @dev Revert naming the first participant whose balance in `got` is not its net
    /// position; return how many positions are non-zero.
    function _checkRealised(uint256 cycleId, int256[] memory got)
        private
        view
        returns (uint256 pending)
    {
        address[] storage list = _participants[cycleId];
        mapping(address => PositionRecord) storage positions = _positions[cycleId];
        uint256 n = got.length;
        // j < n <= MAX_PARTICIPANTS and pending <= n: no overflow.
        unchecked {
            for (uint256 j; j < n; ++j) {
                address operator = list[j];
                int256 expected = positions[operator].net;
                if (got[j] != expected) {
                    revert SettlementLedgerPlanUnbalanced(cycleId, operator, expected, got[j]);
                }
                if (expected != 0) ++pending;
            }
        }
    }

    /// @dev 0-based index of `account` in the cycle's participant list.
    function _participantIndex(uint256 cycleId, address account) private view returns (uint256) {
        uint256 index = _positions[cycleId][account].index;
        if (index == 0) revert SettlementLedgerNotParticipant(cycleId, account);
        // index >= 1 here.
        unchecked {
            return index - 1;
        }
    }

    function _pack(ObligationStatus status, bool byDebtor, uint256 amount, uint256 cycleId)
        private
        pure
        returns (uint256)
    {
        // amount < 2**96 and cycleId < 2**64 were checked by the callers.
        return uint256(status) | (byDebtor ? 1 << 8 : 0) | (amount << 16) | (cycleId << 112);
    }

    function _unpack(uint256 word) private pure returns (ObligationState memory) {
        return ObligationState({
            status: ObligationStatus(uint8(word)),
            proposedByDebtor: (word >> 8) & 1 == 1,
            amount: uint96(word >> 16),
            cycleId: uint64(word >> 112)
        });
    }

    function _setStatus(bytes32 id, ObligationState memory state, ObligationStatus status)
        private
    {
        _obligations[id] = _pack(status, state.proposedByDebtor, state.amount, state.cycleId);
    }

    /// @dev Add `delta` to `operator`'s position in the cycle, listing it on first touch.
    function _move(uint256 cycleId, address operator, int128 delta) private {
        PositionRecord storage p = _positions[cycleId][operator];
        if (p.index == 0) {
            address[] storage list = _participants[cycleId];
            uint256 size = list.length;
            if (size == MAX_PARTICIPANTS) {
                revert SettlementLedgerTooManyParticipants(cycleId, MAX_PARTICIPANTS);
            }
            list.push(operator);
            // size < MAX_PARTICIPANTS, so size + 1 fits in 16 bits.
            p.index = uint16(size + 1);
        }
        p.net += delta;
    }

    /// @dev The id of `record` with `salt`, equal to `obligationId`: a static struct's
    /// calldata is its ABI encoding, so it is hashed in place with the salt appended. The
    /// caller has read every non-bytes32 field through Solidity, which reverts on dirty
    /// bits, or compares the id with one computed from a checked record.
    function _hash(Obligation calldata record, bytes32 salt) private pure returns (bytes32 id) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, record, 0x100)
            mstore(add(ptr, 0x100), salt)
            id := keccak256(ptr, 0x120)
        }
    }

    /// @dev Check `counterparty` is an active operator unless this call already did. The
    /// scan over the few counterparties of a batch runs once per record whose counterparty
    /// differs from the previous record's, so it is a plain word-by-word memory loop.
    function _checkCounterparty(address counterparty, CounterpartyCache memory cache)
        private
        view
    {
        cache.last = counterparty;
        address[] memory known = cache.known;
        uint256 count = cache.count;
        bool seen;
        assembly ("memory-safe") {
            let p := add(known, 0x20)
            for { let end := add(p, shl(5, count)) } lt(p, end) { p := add(p, 0x20) } {
                if eq(mload(p), counterparty) {
                    seen := 1
                    break
                }
            }
        }
        if (seen) return;
        if (!_registry.hasRole(OPERATOR_ROLE, counterparty)) {
            revert SettlementLedgerCounterpartyNotOperator(counterparty);
        }
        // count < known.length: each record adds at most one counterparty.
        known[count] = counterparty;
        cache.count = count + 1;
    }

    function _newCache(uint256 size) private view returns (CounterpartyCache memory) {
        return CounterpartyCache(msg.sender, new address[](size), 0);
    }

    function _checkBatch(uint256 size, uint256 salts) private pure returns (uint256) {
        if (size == 0 || size > MAX_BATCH_SIZE) {
            revert SettlementLedgerInvalidBatchSize(size, MAX_BATCH_SIZE);
        }
        if (salts != size) revert SettlementLedgerBatchLengthMismatch(size, salts);
        return size;
    }

    /// @dev ISO 4217 shape: three upper-case ASCII letters.
    function _checkCurrency(bytes3 currency) private pure {
        uint256 code = uint24(currency);
        // In unchecked arithmetic a byte below 'A' wraps to a huge number, so one
        // comparison per letter checks 'A' <= b <= 'Z'.
        unchecked {
            if (
                (code >> 16) - 0x41 > 25 || ((code >> 8) & 0xff) - 0x41 > 25
                    || (code & 0xff) - 0x41 > 25
            ) revert SettlementLedgerInvalidCurrency(currency);
        }
    }

    /// @dev Cycle `cycleId`, which must exist and be in `expected` status.
    function _cycleIn(uint256 cycleId, CycleStatus expected)
        private
        view
        returns (CycleRecord storage c)
    {
        c = _cycles[cycleId];
        CycleStatus status = c.status;
        if (status == CycleStatus.None) revert SettlementLedgerUnknownCycle(cycleId);
        if (status != expected) revert SettlementLedgerInvalidCycleStatus(cycleId, status);
    }

    function _transferIn(CycleRecord storage c, uint256 cycleId, uint256 index)
        private
        view
        returns (TransferRecord storage)
    {
        if (index >= c.transferCount) revert SettlementLedgerUnknownTransfer(cycleId, index);
        return _transfers[cycleId][index];
    }
}
