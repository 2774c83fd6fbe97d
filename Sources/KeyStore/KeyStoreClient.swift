import Envelope
import ObjectModel
import Sovereignty

/// The key-store protocol, shaped like the AWS KMS External Key Store proxy API. The in-process store and the
/// network client implement it and pass one conformance suite.
public protocol KeyStoreClient: Sendable {
    /// The jurisdiction whose keys this store holds.
    var jurisdiction: Jurisdiction { get }

    /// A fresh 256-bit key wrapped by the tenant's current key version, bound to `aad`. Creates the tenant's key
    /// on first use.
    func generateDataKey(tenant: String, aad: [UInt8], metadata: RequestMetadata) async throws -> GeneratedKey
    /// Opens a key wrapped by ``generateDataKey(tenant:aad:metadata:)`` (or re-wrapped since) with the same `aad`;
    /// for requesters of the store's own jurisdiction only.
    func decrypt(tenant: String, wrapped: WrappedKey, aad: [UInt8], metadata: RequestMetadata) async throws -> SecretKey
    /// Wraps a key the caller made (XKS `encrypt`) under the tenant's current version, bound to `aad`.
    func encrypt(tenant: String, plaintext: SecretKey, aad: [UInt8], metadata: RequestMetadata) async throws -> WrappedKey
    /// Re-wraps a wrapped key under the tenant's current version without it leaving the store.
    func rewrap(tenant: String, wrapped: WrappedKey, aad: [UInt8], metadata: RequestMetadata) async throws -> WrappedKey
    /// Every key version (the root key's, then each tenant's), or only `tenant`'s: their numbers and states, no
    /// key material; for requesters of this jurisdiction (its gateways check, say, that no stored key still needs a
    /// version about to be retired).
    func keys(tenant: String?, metadata: RequestMetadata) async throws -> [KeyVersionInfo]
    /// The public halves of the jurisdiction's authority keys (which live in the sealed state).
    func authorities() async throws -> [AuthorityKey]
    /// Decides a read of one of this jurisdiction's buckets by a requester of another jurisdiction, under the grants
    /// kept here; counts it against a request limit when `countsRequest`.
    func decideRead(_ read: CrossBorderRead, metadata: RequestMetadata) async throws -> CrossBorderVerdict
    /// Unwraps one object's data key and releases it: to a requester of this jurisdiction, or of another one when the
    /// grant named in `metadata` covers that object for `metadata.operation` (counted as one request).
    func releaseDataKey(_ release: DataKeyRelease, metadata: RequestMetadata) async throws -> SecretKey
    /// The grants issued here that concern the requester: all of them for this jurisdiction, those naming it as a
    /// recipient for another one.
    func grants(metadata: RequestMetadata) async throws -> [GrantStatus]
    /// Counts `requests` and `bytes` served under a grant with limits against them, atomically for every gateway and
    /// durably; refused (`limit-exceeded`, `revoked`) when that would exceed a limit. Requesters of this
    /// jurisdiction and of the grant's recipients may ask.
    func useGrant(id: String, requests: Int64, bytes: Int64, metadata: RequestMetadata) async throws -> GrantStatus
    /// Runs an authority call of one of this jurisdiction's administrators (grants, key rotation, retirement and
    /// destruction, administrators, approvals), checking the administrator's signature over `body` itself; the
    /// irreversible acts wait for a quorum of approvals. `metadata` names the gateway it came through.
    func administer(_ proof: AdministratorProof, body: [UInt8], metadata: RequestMetadata) async throws
        -> AuthorityOutcome
    /// Checks an authority call's administrator as ``administer(_:body:metadata:)`` would, without running or
    /// remembering the call: who signed it.
    func authenticateAdministrator(_ proof: AdministratorProof, body: [UInt8], metadata: RequestMetadata) async throws
        -> AdministratorInfo
    /// Signs, with the authority key, a checkpoint (C2SP signed note) of the requester's audit log of this
    /// jurisdiction, only as a proven consistent extension of the last one signed of that log.
    func signCheckpoint(_ request: CheckpointRequest, metadata: RequestMetadata) async throws -> String
    /// The last checkpoint signed of the requester's audit log (nil: none yet).
    func latestCheckpoint(metadata: RequestMetadata) async throws -> String?
    /// The last checkpoint signed of every audit log of this jurisdiction (for its own gateways only).
    func checkpoints(metadata: RequestMetadata) async throws -> [String]
    /// Liveness and seal state (answers even while sealed).
    func health() async throws -> KeyStoreHealth
}
