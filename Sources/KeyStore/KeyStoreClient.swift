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
    /// Opens a key wrapped by ``generateDataKey(tenant:aad:metadata:)`` (or re-wrapped since) with the same `aad`.
    func decrypt(tenant: String, wrapped: WrappedKey, aad: [UInt8], metadata: RequestMetadata) async throws -> SecretKey
    /// Wraps a key the caller made (XKS `encrypt`) under the tenant's current version, bound to `aad`.
    func encrypt(tenant: String, plaintext: SecretKey, aad: [UInt8], metadata: RequestMetadata) async throws -> WrappedKey
    /// Re-wraps a wrapped key under the tenant's current version without it leaving the store.
    func rewrap(tenant: String, wrapped: WrappedKey, aad: [UInt8], metadata: RequestMetadata) async throws -> WrappedKey
    /// Every key version (the root key's, then each tenant's), or only `tenant`'s.
    func keys(tenant: String?, metadata: RequestMetadata) async throws -> [KeyVersionInfo]
    /// Adds a version to the root key (all tenant keys are re-wrapped under it) or to `tenant`'s key.
    func rotate(tenant: String?, metadata: RequestMetadata) async throws -> KeyVersionInfo
    /// Refuses decryption with versions of `tenant`'s key older than its current one.
    func retire(tenant: String, metadata: RequestMetadata) async throws -> [KeyVersionInfo]
    /// Destroys every version of `tenant`'s key: irreversible.
    func destroy(tenant: String, metadata: RequestMetadata) async throws
    /// The public halves of the jurisdiction's authority keys (which live in the sealed state).
    func authorities() async throws -> [AuthorityKey]
    /// Checks, signs with the authority key and records a sovereignty grant issued by this jurisdiction; returns
    /// its JWS. Only requesters of this jurisdiction may issue.
    func issueGrant(_ grant: Grant, metadata: RequestMetadata) async throws -> GrantStatus
    /// Every grant issued here, revoked ones included (any authenticated requester may read them).
    func grants(metadata: RequestMetadata) async throws -> [GrantStatus]
    /// Counts `requests` and `bytes` served under a grant with limits against them, atomically for every gateway and
    /// durably; refused (`limit-exceeded`, `revoked`) when that would exceed a limit. Requesters of this
    /// jurisdiction and of the grant's recipients may ask.
    func useGrant(id: String, requests: Int64, bytes: Int64, metadata: RequestMetadata) async throws -> GrantStatus
    /// Revokes a grant: the key store refuses releases under it at once.
    func revokeGrant(id: String, metadata: RequestMetadata) async throws -> GrantStatus
    /// Signs an audit-log head of this jurisdiction with the authority key (nothing else: the message must be a head
    /// of this jurisdiction's log). Returns the key id and the base64url signature.
    func signAuditHead(_ message: [UInt8], metadata: RequestMetadata) async throws -> AuditSignature
    /// Liveness and seal state (answers even while sealed).
    func health() async throws -> KeyStoreHealth
}
