// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IOperatorRegistry} from "./IOperatorRegistry.sol";

/// @title OperatorRegistry
/// @notice The permissioned consortium: members with their metadata and roles, changed
/// only by governor votes. The genesis members are fixed at deployment.
/// @dev Voting rules:
/// - only active members holding GOVERNOR_ROLE propose and vote, once per proposal;
/// - creating a proposal counts as the proposer's yes-vote, so with a single governor a
///   proposal executes in the transaction that creates it;
/// - a yes-vote executes the proposal when yes * 10000 > quorumBps * activeGovernors,
///   counted at that vote; a no-vote rejects it once it can no longer pass;
/// - voting closes VOTING_PERIOD after creation; a proposal still pending then is Expired.
/// Roles are stored as a bitmask in the member's packed record, so `hasRole` is one SLOAD.
contract OperatorRegistry is IOperatorRegistry {
    /// @inheritdoc IOperatorRegistry
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR");
    /// @inheritdoc IOperatorRegistry
    bytes32 public constant CLEARING_AGENT_ROLE = keccak256("CLEARING_AGENT");
    /// @inheritdoc IOperatorRegistry
    bytes32 public constant AUDITOR_ROLE = keccak256("AUDITOR");
    /// @inheritdoc IOperatorRegistry
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR");
    /// @inheritdoc IOperatorRegistry
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER");

    /// @notice Most members the registry will ever hold; bounds every loop over members.
    uint256 public constant MAX_MEMBERS = 256;
    /// @notice Most members the constructor accepts.
    uint256 public constant MAX_GENESIS_MEMBERS = 32;
    /// @notice Most settlement currencies one member may declare.
    uint256 public constant MAX_CURRENCIES = 8;
    /// @notice Longest legal name, in bytes of UTF-8.
    uint256 public constant MAX_LEGAL_NAME_LENGTH = 128;
    /// @notice How long a proposal stays open for votes.
    uint64 public constant VOTING_PERIOD = 7 days;
    /// @notice The quorum at deployment: more than half of the active governors.
    uint16 public constant DEFAULT_QUORUM_BPS = 5_000;

    uint256 private constant _BPS = 10_000;

    uint8 private constant _OPERATOR_BIT = 1;
    uint8 private constant _CLEARING_AGENT_BIT = 2;
    uint8 private constant _AUDITOR_BIT = 4;
    uint8 private constant _GOVERNOR_BIT = 8;
    uint8 private constant _ANCHORER_BIT = 16;
    uint8 private constant _ROLE_COUNT = 5;

    /// @dev status, roles, country and admittedAt share one slot.
    struct MemberRecord {
        MemberStatus status;
        uint8 roles;
        bytes2 country;
        uint64 admittedAt;
        string legalName;
        string code;
        bytes3[] currencies;
    }

    /// @dev Two slots: proposer..noVotes, then account..country. `roles` is the role bit
    /// of a grant/revoke, or the initial roles of an admission.
    struct ProposalRecord {
        address proposer;
        ProposalKind kind;
        ProposalStatus status;
        uint8 roles;
        uint16 quorumBps;
        uint16 yesVotes;
        uint16 noVotes;
        address account;
        uint64 deadline;
        bytes2 country;
    }

    /// @dev The variable-length part of an admission proposal.
    struct AdmissionRecord {
        string legalName;
        string code;
        bytes3[] currencies;
    }

    mapping(address account => MemberRecord) private _members;
    address[] private _memberList;
    mapping(bytes32 codeHash => address member) private _codeHolders;

    mapping(uint256 proposalId => ProposalRecord) private _proposals;
    mapping(uint256 proposalId => AdmissionRecord) private _admissions;
    mapping(uint256 proposalId => mapping(address voter => bool)) private _voted;
    uint256 private _proposalCount;

    uint16 private _quorumBps;
    uint16 private _activeGovernors;

    modifier onlyGovernor() {
        _checkGovernor(msg.sender);
        _;
    }

    /// @notice Deploy the registry with its genesis members, admitted at once.
    /// @dev Requires 1..MAX_GENESIS_MEMBERS members, each passing the admission checks of
    /// `proposeAdmission`, at least one holding GOVERNOR_ROLE. Emits MemberAdmitted and one
    /// RoleGranted per role for each, all with proposalId 0.
    constructor(GenesisMember[] memory genesis) {
        uint256 size = genesis.length;
        if (size == 0 || size > MAX_GENESIS_MEMBERS) {
            revert OperatorRegistryInvalidGenesisSize(size, MAX_GENESIS_MEMBERS);
        }
        _quorumBps = DEFAULT_QUORUM_BPS;
        for (uint256 i; i < size; ++i) {
            GenesisMember memory g = genesis[i];
            _checkAccount(g.account);
            _checkProfile(g.legalName, g.country, g.code, g.currencies);
            _checkCodeFree(g.code);
            _admit(g.account, g.legalName, g.country, g.code, g.currencies, _rolesMask(g.roles), 0);
        }
        if (_activeGovernors == 0) revert OperatorRegistryNoGenesisGovernor();
    }

    // ---------------------------------------------------------- governance

    /// @inheritdoc IOperatorRegistry
    function proposeAdmission(
        address account,
        string calldata legalName,
        bytes2 country,
        string calldata code,
        bytes3[] calldata currencies,
        bytes32[] calldata roles
    ) external onlyGovernor returns (uint256 proposalId) {
        _checkAccount(account);
        _checkProfile(legalName, country, code, currencies);
        _checkCodeFree(code);
        uint8 mask = _rolesMask(roles);
        ProposalRecord storage p;
        (proposalId, p) = _createProposal(ProposalKind.Admit, account, mask, 0, bytes32(0));
        p.country = country;
        AdmissionRecord storage a = _admissions[proposalId];
        a.legalName = legalName;
        a.code = code;
        a.currencies = currencies;
        _castVote(proposalId, p, true);
    }

    /// @inheritdoc IOperatorRegistry
    function proposeSuspension(address account)
        external
        onlyGovernor
        returns (uint256 proposalId)
    {
        _checkSuspension(account);
        ProposalRecord storage p;
        (proposalId, p) = _createProposal(ProposalKind.Suspend, account, 0, 0, bytes32(0));
        _castVote(proposalId, p, true);
    }

    /// @inheritdoc IOperatorRegistry
    function proposeReinstatement(address account)
        external
        onlyGovernor
        returns (uint256 proposalId)
    {
        _checkReinstatement(account);
        ProposalRecord storage p;
        (proposalId, p) = _createProposal(ProposalKind.Reinstate, account, 0, 0, bytes32(0));
        _castVote(proposalId, p, true);
    }

    /// @inheritdoc IOperatorRegistry
    function proposeRoleGrant(bytes32 role, address account)
        external
        onlyGovernor
        returns (uint256 proposalId)
    {
        uint8 bit = _requireRoleBit(role);
        _checkGrant(bit, account);
        ProposalRecord storage p;
        (proposalId, p) = _createProposal(ProposalKind.GrantRole, account, bit, 0, role);
        _castVote(proposalId, p, true);
    }

    /// @inheritdoc IOperatorRegistry
    function proposeRoleRevocation(bytes32 role, address account)
        external
        onlyGovernor
        returns (uint256 proposalId)
    {
        uint8 bit = _requireRoleBit(role);
        _checkRevocation(bit, account);
        ProposalRecord storage p;
        (proposalId, p) = _createProposal(ProposalKind.RevokeRole, account, bit, 0, role);
        _castVote(proposalId, p, true);
    }

    /// @inheritdoc IOperatorRegistry
    function proposeQuorumChange(uint16 newQuorumBps)
        external
        onlyGovernor
        returns (uint256 proposalId)
    {
        _checkQuorum(newQuorumBps);
        ProposalRecord storage p;
        (proposalId, p) =
            _createProposal(ProposalKind.ChangeQuorum, address(0), 0, newQuorumBps, bytes32(0));
        _castVote(proposalId, p, true);
    }

    /// @inheritdoc IOperatorRegistry
    function vote(uint256 proposalId, bool support) external onlyGovernor {
        ProposalRecord storage p = _proposals[proposalId];
        ProposalStatus status = p.status;
        if (status == ProposalStatus.None) revert OperatorRegistryUnknownProposal(proposalId);
        if (status != ProposalStatus.Pending) {
            revert OperatorRegistryProposalClosed(proposalId, status);
        }
        if (block.timestamp > p.deadline) {
            revert OperatorRegistryProposalExpired(proposalId, p.deadline);
        }
        if (_voted[proposalId][msg.sender]) {
            revert OperatorRegistryAlreadyVoted(proposalId, msg.sender);
        }
        _castVote(proposalId, p, support);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IOperatorRegistry
    function isActiveMember(address account) external view returns (bool) {
        return _members[account].status == MemberStatus.Active;
    }

    /// @inheritdoc IOperatorRegistry
    function hasRole(bytes32 role, address account) public view returns (bool) {
        MemberRecord storage m = _members[account];
        return m.status == MemberStatus.Active && (m.roles & _roleBit(role)) != 0;
    }

    /// @inheritdoc IOperatorRegistry
    function hasRoleRaw(bytes32 role, address account) external view returns (bool) {
        return (_members[account].roles & _roleBit(role)) != 0;
    }

    /// @inheritdoc IOperatorRegistry
    function settlesIn(address account, bytes3 currency) external view returns (bool) {
        MemberRecord storage m = _members[account];
        if (m.status != MemberStatus.Active) return false;
        bytes3[] storage currencies = m.currencies;
        uint256 n = currencies.length; // at most MAX_CURRENCIES
        for (uint256 i; i < n; ++i) {
            if (currencies[i] == currency) return true;
        }
        return false;
    }

    /// @inheritdoc IOperatorRegistry
    function memberOf(address account) external view returns (Member memory) {
        return _memberView(account);
    }

    /// @inheritdoc IOperatorRegistry
    function memberCount() external view returns (uint256) {
        return _memberList.length;
    }

    /// @inheritdoc IOperatorRegistry
    function memberAt(uint256 index) external view returns (Member memory) {
        uint256 count = _memberList.length;
        if (index >= count) revert OperatorRegistryIndexOutOfRange(index, count);
        return _memberView(_memberList[index]);
    }

    /// @inheritdoc IOperatorRegistry
    function roleHolders(bytes32 role) external view returns (address[] memory holders) {
        uint8 bit = _requireRoleBit(role);
        uint256 count = _memberList.length; // at most MAX_MEMBERS
        uint256 found;
        holders = new address[](count);
        for (uint256 i; i < count; ++i) {
            address account = _memberList[i];
            if (_members[account].roles & bit != 0) holders[found++] = account;
        }
        assembly ("memory-safe") {
            mstore(holders, found) // shrink to the holders found; found <= count
        }
    }

    /// @inheritdoc IOperatorRegistry
    function proposal(uint256 proposalId) external view returns (Proposal memory view_) {
        ProposalRecord storage p = _proposals[proposalId];
        if (p.status == ProposalStatus.None) revert OperatorRegistryUnknownProposal(proposalId);
        view_.id = proposalId;
        view_.kind = p.kind;
        view_.status = p.status == ProposalStatus.Pending && block.timestamp > p.deadline
            ? ProposalStatus.Expired
            : p.status;
        view_.proposer = p.proposer;
        view_.account = p.account;
        view_.quorumBps = p.quorumBps;
        view_.yesVotes = p.yesVotes;
        view_.noVotes = p.noVotes;
        view_.deadline = p.deadline;
        if (p.kind == ProposalKind.GrantRole || p.kind == ProposalKind.RevokeRole) {
            view_.role = _roleOfBit(p.roles);
        } else if (p.kind == ProposalKind.Admit) {
            AdmissionRecord storage a = _admissions[proposalId];
            view_.legalName = a.legalName;
            view_.country = p.country;
            view_.code = a.code;
            view_.currencies = a.currencies;
            view_.roles = _roleList(p.roles);
        }
    }

    /// @inheritdoc IOperatorRegistry
    function proposalCount() external view returns (uint256) {
        return _proposalCount;
    }

    /// @inheritdoc IOperatorRegistry
    function hasVoted(uint256 proposalId, address voter) external view returns (bool) {
        return _voted[proposalId][voter];
    }

    /// @inheritdoc IOperatorRegistry
    function quorumBps() external view returns (uint16) {
        return _quorumBps;
    }

    /// @inheritdoc IOperatorRegistry
    function activeGovernorCount() external view returns (uint16) {
        return _activeGovernors;
    }

    // ------------------------------------------------------------- internals

    /// @dev The one role check: `account` must be an active member holding GOVERNOR_ROLE.
    function _checkGovernor(address account) internal view {
        if (!hasRole(GOVERNOR_ROLE, account)) revert OperatorRegistryNotGovernor(account);
    }

    function _createProposal(
        ProposalKind kind,
        address account,
        uint8 roles,
        uint16 newQuorumBps,
        bytes32 role
    ) private returns (uint256 proposalId, ProposalRecord storage p) {
        proposalId = ++_proposalCount;
        uint64 deadline = uint64(block.timestamp) + VOTING_PERIOD;
        p = _proposals[proposalId];
        p.proposer = msg.sender;
        p.kind = kind;
        p.status = ProposalStatus.Pending;
        p.roles = roles;
        p.quorumBps = newQuorumBps;
        p.account = account;
        p.deadline = deadline;
        emit ProposalCreated(proposalId, kind, msg.sender, account, role, newQuorumBps, deadline);
    }

    /// @dev Record msg.sender's vote, then execute or reject the proposal if this vote
    /// decides it. The caller has checked that the proposal is open and msg.sender has not
    /// voted.
    function _castVote(uint256 proposalId, ProposalRecord storage p, bool support) private {
        _voted[proposalId][msg.sender] = true;
        uint16 yes = p.yesVotes;
        uint16 no = p.noVotes;
        // Each member votes at most once and there are at most MAX_MEMBERS (< 2**16) members.
        unchecked {
            if (support) ++yes;
            else ++no;
        }
        p.yesVotes = yes;
        p.noVotes = no;
        emit VoteCast(proposalId, msg.sender, support);

        uint16 governors = _activeGovernors;
        uint256 threshold = uint256(_quorumBps) * governors;
        if (support) {
            if (uint256(yes) * _BPS > threshold) {
                p.status = ProposalStatus.Executed;
                _execute(proposalId, p);
                emit ProposalExecuted(proposalId, yes, no, governors);
            }
        } else if (no >= governors || uint256(governors - no) * _BPS <= threshold) {
            p.status = ProposalStatus.Rejected;
            emit ProposalRejected(proposalId, yes, no, governors);
        }
    }

    /// @dev Apply a passed proposal, re-checking what other proposals may have changed
    /// since it was created.
    function _execute(uint256 proposalId, ProposalRecord storage p) private {
        ProposalKind kind = p.kind;
        address account = p.account;
        if (kind == ProposalKind.Admit) {
            AdmissionRecord memory a = _admissions[proposalId];
            _checkAccount(account);
            _checkCodeFree(a.code);
            _admit(account, a.legalName, p.country, a.code, a.currencies, p.roles, proposalId);
        } else if (kind == ProposalKind.Suspend) {
            _checkSuspension(account);
            _setStatus(account, MemberStatus.Suspended);
            emit MemberSuspended(account, proposalId);
        } else if (kind == ProposalKind.Reinstate) {
            _checkReinstatement(account);
            _setStatus(account, MemberStatus.Active);
            emit MemberReinstated(account, proposalId);
        } else if (kind == ProposalKind.GrantRole) {
            _checkGrant(p.roles, account);
            _grant(p.roles, account, proposalId);
        } else if (kind == ProposalKind.RevokeRole) {
            _checkRevocation(p.roles, account);
            _revoke(p.roles, account, proposalId);
        } else {
            uint16 newBps = p.quorumBps;
            _checkQuorum(newBps);
            uint16 previous = _quorumBps;
            _quorumBps = newBps;
            emit QuorumChanged(previous, newBps, proposalId);
        }
    }

    function _admit(
        address account,
        string memory legalName,
        bytes2 country,
        string memory code,
        bytes3[] memory currencies,
        uint8 roles,
        uint256 proposalId
    ) private {
        MemberRecord storage m = _members[account];
        m.status = MemberStatus.Active;
        m.country = country;
        m.admittedAt = uint64(block.timestamp);
        m.legalName = legalName;
        m.code = code;
        m.currencies = currencies;
        _memberList.push(account);
        _codeHolders[keccak256(bytes(code))] = account;
        emit MemberAdmitted(account, legalName, country, code, currencies, proposalId);
        for (uint8 bit = 1; bit <= _ANCHORER_BIT; bit <<= 1) {
            if (roles & bit != 0) _grant(bit, account, proposalId);
        }
    }

    function _setStatus(address account, MemberStatus status) private {
        MemberRecord storage m = _members[account];
        m.status = status;
        if (m.roles & _GOVERNOR_BIT != 0) {
            // At most MAX_MEMBERS governors; the last active one is never suspended.
            unchecked {
                if (status == MemberStatus.Active) ++_activeGovernors;
                else --_activeGovernors;
            }
        }
    }

    function _grant(uint8 bit, address account, uint256 proposalId) private {
        MemberRecord storage m = _members[account];
        m.roles |= bit;
        if (bit == _GOVERNOR_BIT && m.status == MemberStatus.Active) {
            unchecked {
                ++_activeGovernors; // at most MAX_MEMBERS governors
            }
        }
        emit RoleGranted(_roleOfBit(bit), account, proposalId);
    }

    function _revoke(uint8 bit, address account, uint256 proposalId) private {
        MemberRecord storage m = _members[account];
        m.roles &= ~bit;
        if (bit == _GOVERNOR_BIT && m.status == MemberStatus.Active) {
            unchecked {
                --_activeGovernors; // _checkRevocation refused removing the last one
            }
        }
        emit RoleRevoked(_roleOfBit(bit), account, proposalId);
    }

    // ---------------------------------------------------------------- checks

    function _checkAccount(address account) private view {
        if (account == address(0)) revert OperatorRegistryZeroAddress();
        if (_members[account].status != MemberStatus.None) {
            revert OperatorRegistryAlreadyMember(account);
        }
        if (_memberList.length >= MAX_MEMBERS) {
            revert OperatorRegistryMemberLimitReached(MAX_MEMBERS);
        }
    }

    function _checkCodeFree(string memory code) private view {
        address holder = _codeHolders[keccak256(bytes(code))];
        if (holder != address(0)) revert OperatorRegistryCodeTaken(code, holder);
    }

    function _checkSuspension(address account) private view {
        MemberRecord storage m = _existingMember(account);
        if (m.status == MemberStatus.Suspended) {
            revert OperatorRegistryMemberAlreadySuspended(account);
        }
        if (m.roles & _GOVERNOR_BIT != 0 && _activeGovernors == 1) {
            revert OperatorRegistryLastGovernor(account);
        }
    }

    function _checkReinstatement(address account) private view {
        if (_existingMember(account).status == MemberStatus.Active) {
            revert OperatorRegistryMemberNotSuspended(account);
        }
    }

    function _checkGrant(uint8 bit, address account) private view {
        if (_existingMember(account).roles & bit != 0) {
            revert OperatorRegistryRoleAlreadyGranted(_roleOfBit(bit), account);
        }
    }

    function _checkRevocation(uint8 bit, address account) private view {
        MemberRecord storage m = _existingMember(account);
        if (m.roles & bit == 0) revert OperatorRegistryRoleNotHeld(_roleOfBit(bit), account);
        if (
            bit == _GOVERNOR_BIT && m.status == MemberStatus.Active && _activeGovernors == 1
        ) {
            revert OperatorRegistryLastGovernor(account);
        }
    }

    function _checkQuorum(uint16 newBps) private view {
        if (newBps < DEFAULT_QUORUM_BPS || newBps >= _BPS) {
            revert OperatorRegistryInvalidQuorum(newBps);
        }
        if (newBps == _quorumBps) revert OperatorRegistryQuorumUnchanged(newBps);
    }

    function _existingMember(address account) private view returns (MemberRecord storage m) {
        m = _members[account];
        if (m.status == MemberStatus.None) revert OperatorRegistryUnknownMember(account);
    }

    /// @dev Format checks only: ISO 3166 / ISO 4217 membership is the proposer's duty.
    function _checkProfile(
        string memory legalName,
        bytes2 country,
        string memory code,
        bytes3[] memory currencies
    ) private pure {
        uint256 nameLength = bytes(legalName).length;
        if (nameLength == 0) revert OperatorRegistryEmptyLegalName();
        if (nameLength > MAX_LEGAL_NAME_LENGTH) {
            revert OperatorRegistryLegalNameTooLong(nameLength, MAX_LEGAL_NAME_LENGTH);
        }
        if (!_isUpper(country[0]) || !_isUpper(country[1])) {
            revert OperatorRegistryInvalidCountry(country);
        }
        _checkCode(code);
        uint256 count = currencies.length;
        if (count == 0 || count > MAX_CURRENCIES) {
            revert OperatorRegistryInvalidCurrencyCount(count, MAX_CURRENCIES);
        }
        for (uint256 i; i < count; ++i) {
            bytes3 currency = currencies[i];
            if (!_isUpper(currency[0]) || !_isUpper(currency[1]) || !_isUpper(currency[2])) {
                revert OperatorRegistryInvalidCurrency(currency);
            }
            for (uint256 j; j < i; ++j) {
                if (currencies[j] == currency) revert OperatorRegistryDuplicateCurrency(currency);
            }
        }
    }

    /// @dev TADIG `[A-Z]{3}[A-Z0-9]{2}` or MCC-MNC `[0-9]{5,6}`.
    function _checkCode(string memory code) private pure {
        bytes memory b = bytes(code);
        uint256 n = b.length;
        bool valid;
        if (n == 5 && _isUpper(b[0])) {
            valid = _isUpper(b[1]) && _isUpper(b[2]) && _isUpperOrDigit(b[3])
                && _isUpperOrDigit(b[4]);
        } else if (n == 5 || n == 6) {
            valid = true;
            for (uint256 i; i < n; ++i) {
                if (!_isDigit(b[i])) {
                    valid = false;
                    break;
                }
            }
        }
        if (!valid) revert OperatorRegistryInvalidCode(code);
    }

    /// @dev Distinct known roles as a bitmask. The loop is bounded: a list longer than
    /// _ROLE_COUNT holds a duplicate or an unknown role and reverts by then.
    function _rolesMask(bytes32[] memory roles) private pure returns (uint8 mask) {
        uint256 n = roles.length;
        for (uint256 i; i < n; ++i) {
            uint8 bit = _requireRoleBit(roles[i]);
            if (mask & bit != 0) revert OperatorRegistryDuplicateRole(roles[i]);
            mask |= bit;
        }
    }

    function _roleList(uint8 mask) private pure returns (bytes32[] memory roles) {
        roles = new bytes32[](_ROLE_COUNT);
        uint256 found;
        for (uint8 bit = 1; bit <= _ANCHORER_BIT; bit <<= 1) {
            if (mask & bit != 0) roles[found++] = _roleOfBit(bit);
        }
        assembly ("memory-safe") {
            mstore(roles, found) // shrink to the roles found; found <= _ROLE_COUNT
        }
    }

    function _memberView(address account) private view returns (Member memory view_) {
        MemberRecord storage m = _existingMember(account);
        view_.account = account;
        view_.status = m.status;
        view_.admittedAt = m.admittedAt;
        view_.legalName = m.legalName;
        view_.country = m.country;
        view_.code = m.code;
        view_.currencies = m.currencies;
        view_.roles = _roleList(m.roles);
    }

    function _roleBit(bytes32 role) private pure returns (uint8) {
        if (role == OPERATOR_ROLE) return _OPERATOR_BIT;
        if (role == CLEARING_AGENT_ROLE) return _CLEARING_AGENT_BIT;
        if (role == AUDITOR_ROLE) return _AUDITOR_BIT;
        if (role == GOVERNOR_ROLE) return _GOVERNOR_BIT;
        if (role == ANCHORER_ROLE) return _ANCHORER_BIT;
        return 0;
    }

    function _requireRoleBit(bytes32 role) private pure returns (uint8 bit) {
        bit = _roleBit(role);
        if (bit == 0) revert OperatorRegistryUnknownRole(role);
    }

    function _roleOfBit(uint8 bit) private pure returns (bytes32) {
        if (bit == _OPERATOR_BIT) return OPERATOR_ROLE;
        if (bit == _CLEARING_AGENT_BIT) return CLEARING_AGENT_ROLE;
        if (bit == _AUDITOR_BIT) return AUDITOR_ROLE;
        if (bit == _GOVERNOR_BIT) return GOVERNOR_ROLE;
        return ANCHORER_ROLE;
    }

    function _isUpper(bytes1 c) private pure returns (bool) {
        return c >= "A" && c <= "Z";
    }

    function _isDigit(bytes1 c) private pure returns (bool) {
        return c >= "0" && c <= "9";
    }

    function _isUpperOrDigit(bytes1 c) private pure returns (bool) {
        return _isUpper(c) || _isDigit(c);
    }
}
