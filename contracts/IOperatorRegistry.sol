// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title IOperatorRegistry
/// @notice The permissioned consortium of telecom operators behind Ledgerline: who is a
/// member, with which on-chain metadata, holding which roles, and the governor votes that
/// change any of it. Other Ledgerline contracts ask `isActiveMember` and `hasRole`.
/// @dev Roles are the `bytes32` constants `OPERATOR_ROLE`, `CLEARING_AGENT_ROLE`,
/// `AUDITOR_ROLE`, `GOVERNOR_ROLE` and `ANCHORER_ROLE` (each the keccak256 of its name).
/// A suspended member keeps its roles on record (`hasRoleRaw`) but has no effective role
/// (`hasRole` is false) until it is reinstated.
interface IOperatorRegistry {
    // ------------------------------------------------------------------ types

    /// @notice A member's standing. `None` means "never admitted".
    enum MemberStatus {
        None,
        Active,
        Suspended
    }

    /// @notice What a proposal changes when it passes.
    enum ProposalKind {
        Admit,
        Suspend,
        Reinstate,
        GrantRole,
        RevokeRole,
        ChangeQuorum
    }

    /// @notice A proposal's state. `Expired` is reported by `proposal()` for a proposal that
    /// was still pending when its voting deadline passed; it is never stored.
    enum ProposalStatus {
        None,
        Pending,
        Executed,
        Rejected,
        Expired
    }

    /// @notice A member as read back by `memberOf` / `memberAt`.
    /// @param roles the roles on record, whatever the status (see `hasRole` for effective ones)
    struct Member {
        address account;
        MemberStatus status;
        uint64 admittedAt;
        string legalName;
        bytes2 country;
        string code;
        bytes3[] currencies;
        bytes32[] roles;
    }

    /// @notice One member of the genesis set given to the constructor.
    struct GenesisMember {
        address account;
        string legalName;
        bytes2 country;
        string code;
        bytes3[] currencies;
        bytes32[] roles;
    }

    /// @notice A proposal as read back by `proposal()`. Fields that do not apply to its kind
    /// are zero or empty: `role` is set for GrantRole/RevokeRole, `quorumBps` for
    /// ChangeQuorum, the member metadata and `roles` for Admit.
    struct Proposal {
        uint256 id;
        ProposalKind kind;
        ProposalStatus status;
        address proposer;
        address account;
        bytes32 role;
        uint16 quorumBps;
        uint16 yesVotes;
        uint16 noVotes;
        uint64 deadline;
        string legalName;
        bytes2 country;
        string code;
        bytes3[] currencies;
        bytes32[] roles;
    }

    // ----------------------------------------------------------------- errors

    /// @notice `caller` is not an active member holding the GOVERNOR role.
    error OperatorRegistryNotGovernor(address caller);
    /// @notice The zero address cannot be a member.
    error OperatorRegistryZeroAddress();
    /// @notice `account` was never admitted.
    error OperatorRegistryUnknownMember(address account);
    /// @notice `account` is already a member (active or suspended).
    error OperatorRegistryAlreadyMember(address account);
    /// @notice `account` is already suspended.
    error OperatorRegistryMemberAlreadySuspended(address account);
    /// @notice `account` is active, so there is nothing to reinstate.
    error OperatorRegistryMemberNotSuspended(address account);
    /// @notice The registry already holds `maxMembers` members.
    error OperatorRegistryMemberLimitReached(uint256 maxMembers);
    /// @notice `role` is not one of the registry's roles.
    error OperatorRegistryUnknownRole(bytes32 role);
    /// @notice `account` already holds `role`.
    error OperatorRegistryRoleAlreadyGranted(bytes32 role, address account);
    /// @notice `account` does not hold `role`.
    error OperatorRegistryRoleNotHeld(bytes32 role, address account);
    /// @notice `role` appears twice in one list of roles.
    error OperatorRegistryDuplicateRole(bytes32 role);
    /// @notice Suspending `account` or revoking its GOVERNOR role would leave no active governor.
    error OperatorRegistryLastGovernor(address account);
    /// @notice The legal name is empty.
    error OperatorRegistryEmptyLegalName();
    /// @notice The legal name is `length` bytes long, over the `maxLength` limit.
    error OperatorRegistryLegalNameTooLong(uint256 length, uint256 maxLength);
    /// @notice `country` is not two upper-case letters (ISO 3166-1 alpha-2).
    error OperatorRegistryInvalidCountry(bytes2 country);
    /// @notice `code` is neither a TADIG code (`[A-Z]{3}[A-Z0-9]{2}`) nor an MCC-MNC (`[0-9]{5,6}`).
    error OperatorRegistryInvalidCode(string code);
    /// @notice `code` already identifies member `holder`.
    error OperatorRegistryCodeTaken(string code, address holder);
    /// @notice `currency` is not three upper-case letters (ISO 4217).
    error OperatorRegistryInvalidCurrency(bytes3 currency);
    /// @notice `currency` appears twice in one member's settlement currencies.
    error OperatorRegistryDuplicateCurrency(bytes3 currency);
    /// @notice A member needs between 1 and `maxCurrencies` settlement currencies, not `count`.
    error OperatorRegistryInvalidCurrencyCount(uint256 count, uint256 maxCurrencies);
    /// @notice The genesis set must hold between 1 and `maxSize` members, not `size`.
    error OperatorRegistryInvalidGenesisSize(uint256 size, uint256 maxSize);
    /// @notice No genesis member holds the GOVERNOR role, so nobody could ever propose.
    error OperatorRegistryNoGenesisGovernor();
    /// @notice `quorumBps` is outside [5000, 10000): below would allow minority rule, and a
    /// quorum of 10000 could never be exceeded.
    error OperatorRegistryInvalidQuorum(uint16 quorumBps);
    /// @notice The quorum already is `quorumBps`.
    error OperatorRegistryQuorumUnchanged(uint16 quorumBps);
    /// @notice No proposal has id `proposalId`.
    error OperatorRegistryUnknownProposal(uint256 proposalId);
    /// @notice The proposal was already decided (`status` is Executed or Rejected).
    error OperatorRegistryProposalClosed(uint256 proposalId, ProposalStatus status);
    /// @notice Voting on the proposal ended at `deadline` (unix seconds).
    error OperatorRegistryProposalExpired(uint256 proposalId, uint64 deadline);
    /// @notice `voter` has already voted on the proposal.
    error OperatorRegistryAlreadyVoted(uint256 proposalId, address voter);
    /// @notice `index` is past the end of the member list of `count` members.
    error OperatorRegistryIndexOutOfRange(uint256 index, uint256 count);

    // ----------------------------------------------------------------- events

    /// @notice `member` joined the consortium (proposalId 0 for the genesis set).
    event MemberAdmitted(
        address indexed member,
        string legalName,
        bytes2 country,
        string code,
        bytes3[] currencies,
        uint256 indexed proposalId
    );
    /// @notice `member` was suspended; it keeps its roles on record but none is effective.
    event MemberSuspended(address indexed member, uint256 indexed proposalId);
    /// @notice `member` was reinstated; its roles on record are effective again.
    event MemberReinstated(address indexed member, uint256 indexed proposalId);
    /// @notice `account` received `role` (proposalId 0 for the genesis set).
    event RoleGranted(bytes32 indexed role, address indexed account, uint256 indexed proposalId);
    /// @notice `account` lost `role`.
    event RoleRevoked(bytes32 indexed role, address indexed account, uint256 indexed proposalId);
    /// @notice The quorum changed from `previousBps` to `newBps`.
    event QuorumChanged(uint16 previousBps, uint16 newBps, uint256 indexed proposalId);
    /// @notice A governor opened a proposal; `account`, `role` and `quorumBps` are zero when
    /// they do not apply to `kind`. Admission metadata is read with `proposal(proposalId)`.
    event ProposalCreated(
        uint256 indexed proposalId,
        ProposalKind indexed kind,
        address indexed proposer,
        address account,
        bytes32 role,
        uint16 quorumBps,
        uint64 deadline
    );
    /// @notice `voter` voted for (`support`) or against the proposal.
    event VoteCast(uint256 indexed proposalId, address indexed voter, bool support);
    /// @notice The proposal passed and its change was applied; the tallies and the active
    /// governor count are those of the deciding vote.
    event ProposalExecuted(
        uint256 indexed proposalId, uint16 yesVotes, uint16 noVotes, uint16 activeGovernors
    );
    /// @notice Enough governors voted against the proposal that it can no longer pass.
    event ProposalRejected(
        uint256 indexed proposalId, uint16 yesVotes, uint16 noVotes, uint16 activeGovernors
    );

    // ---------------------------------------------------------- governance

    /// @notice Propose admitting `account` with its metadata and initial roles.
    /// @dev Requires the caller to be an active governor; `account` non-zero and not a
    /// member; the member limit not reached; a non-empty legal name of at most
    /// `MAX_LEGAL_NAME_LENGTH` bytes; an ISO 3166 alpha-2 `country`; a TADIG or MCC-MNC
    /// `code` no other member uses; 1..`MAX_CURRENCIES` distinct ISO 4217 `currencies`;
    /// distinct known `roles`. The same checks run again when the proposal executes.
    /// The caller's proposal counts as its yes-vote, so it may execute at once.
    /// Emits ProposalCreated and VoteCast, and when it passes MemberAdmitted, one
    /// RoleGranted per role, and ProposalExecuted.
    /// @return proposalId the new proposal's id (ids start at 1)
    function proposeAdmission(
        address account,
        string calldata legalName,
        bytes2 country,
        string calldata code,
        bytes3[] calldata currencies,
        bytes32[] calldata roles
    ) external returns (uint256 proposalId);

    /// @notice Propose suspending the active member `account`.
    /// @dev Requires an active-governor caller, `account` a member that is not already
    /// suspended, and that `account` is not the last active governor. The caller's proposal
    /// counts as its yes-vote. Emits ProposalCreated, VoteCast, and on passing
    /// MemberSuspended and ProposalExecuted.
    function proposeSuspension(address account) external returns (uint256 proposalId);

    /// @notice Propose reinstating the suspended member `account`.
    /// @dev Requires an active-governor caller and `account` a suspended member. The
    /// caller's proposal counts as its yes-vote. Emits ProposalCreated, VoteCast, and on
    /// passing MemberReinstated and ProposalExecuted.
    function proposeReinstatement(address account) external returns (uint256 proposalId);

    /// @notice Propose granting `role` to the member `account`.
    /// @dev Requires an active-governor caller, a known `role`, `account` a member (active or
    /// suspended) not holding `role`. The caller's proposal counts as its yes-vote. Emits
    /// ProposalCreated, VoteCast, and on passing RoleGranted and ProposalExecuted.
    function proposeRoleGrant(bytes32 role, address account) external returns (uint256 proposalId);

    /// @notice Propose revoking `role` from the member `account`.
    /// @dev Requires an active-governor caller, a known `role`, `account` a member holding
    /// it, and for GOVERNOR_ROLE that `account` is not the last active governor. The
    /// caller's proposal counts as its yes-vote. Emits ProposalCreated, VoteCast, and on
    /// passing RoleRevoked and ProposalExecuted.
    function proposeRoleRevocation(bytes32 role, address account)
        external
        returns (uint256 proposalId);

    /// @notice Propose changing the quorum to `newQuorumBps` basis points.
    /// @dev Requires an active-governor caller and 5000 <= `newQuorumBps` < 10000, different
    /// from the current quorum. The caller's proposal counts as its yes-vote. Emits
    /// ProposalCreated, VoteCast, and on passing QuorumChanged and ProposalExecuted.
    function proposeQuorumChange(uint16 newQuorumBps) external returns (uint256 proposalId);

    /// @notice Vote for (`support` true) or against a pending proposal.
    /// @dev Requires an active-governor caller who has not voted on it yet, the proposal to
    /// exist, be pending, and its deadline not passed. A yes-vote executes the proposal when
    /// `yesVotes * 10000 > quorumBps * activeGovernorCount()`; a no-vote rejects it when
    /// `(activeGovernorCount() - noVotes) * 10000 <= quorumBps * activeGovernorCount()`,
    /// i.e. when it could no longer pass. Execution re-checks the proposal's requirements and
    /// reverts with their errors if another proposal invalidated it meanwhile. Votes of a
    /// governor suspended later stay counted. Emits VoteCast, then either the change's
    /// events and ProposalExecuted, or ProposalRejected, or nothing more.
    function vote(uint256 proposalId, bool support) external;

    // ------------------------------------------------------------- views

    /// @notice Whether `account` is a member in good standing (admitted and not suspended).
    function isActiveMember(address account) external view returns (bool);

    /// @notice Whether `account` is an active member holding `role`; false for a suspended
    /// member, a non-member or an unknown role.
    function hasRole(bytes32 role, address account) external view returns (bool);

    /// @notice Whether `account` holds `role` on record, whatever its status.
    function hasRoleRaw(bytes32 role, address account) external view returns (bool);

    /// @notice Whether `account` is an active member that settles in `currency`.
    function settlesIn(address account, bytes3 currency) external view returns (bool);

    /// @notice The member `account` with its metadata and roles on record.
    /// @dev Reverts with OperatorRegistryUnknownMember for a non-member.
    function memberOf(address account) external view returns (Member memory);

    /// @notice How many members were ever admitted (suspended ones included).
    function memberCount() external view returns (uint256);

    /// @notice The member at `index` in admission order, `index` < `memberCount()`.
    function memberAt(uint256 index) external view returns (Member memory);

    /// @notice Every member holding `role` on record, whatever its status, in admission order.
    /// @dev Reverts with OperatorRegistryUnknownRole for an unknown role. Bounded by MAX_MEMBERS.
    function roleHolders(bytes32 role) external view returns (address[] memory);

    /// @notice The proposal `proposalId`. Reverts with OperatorRegistryUnknownProposal.
    function proposal(uint256 proposalId) external view returns (Proposal memory);

    /// @notice How many proposals were created; ids run from 1 to this number.
    function proposalCount() external view returns (uint256);

    /// @notice Whether `voter` has voted on `proposalId`.
    function hasVoted(uint256 proposalId, address voter) external view returns (bool);

    /// @notice The current quorum in basis points (default 5000: more than half).
    function quorumBps() external view returns (uint16);

    /// @notice How many active members hold the GOVERNOR role.
    function activeGovernorCount() external view returns (uint16);

    /// @notice keccak256("OPERATOR"): may record and confirm settlement obligations.
    function OPERATOR_ROLE() external view returns (bytes32);

    /// @notice keccak256("CLEARING_AGENT"): may run netting cycles.
    function CLEARING_AGENT_ROLE() external view returns (bytes32);

    /// @notice keccak256("AUDITOR"): read-only oversight.
    function AUDITOR_ROLE() external view returns (bytes32);

    /// @notice keccak256("GOVERNOR"): proposes and votes on registry changes.
    function GOVERNOR_ROLE() external view returns (bytes32);

    /// @notice keccak256("ANCHORER"): may anchor approval-log checkpoints.
    function ANCHORER_ROLE() external view returns (bytes32);
}
