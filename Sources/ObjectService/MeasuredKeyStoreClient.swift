import Envelope
import KeyStore
import Metrics
import ObjectModel
import Sovereignty

/// A key-store client that counts and times every call to the store it wraps (the gateway wraps each of its clients,
/// embedded or remote, once at start): `qantara_keystore_calls_total{jurisdiction,call,outcome}` and
/// `qantara_keystore_call_duration_seconds{jurisdiction,call}`.
public struct MeasuredKeyStoreClient: KeyStoreClient {
    let inner: any KeyStoreClient

    public init(_ inner: any KeyStoreClient) { self.inner = inner }

    public var jurisdiction: Jurisdiction { inner.jurisdiction }

    private func measure<R>(_ call: String, _ body: () async throws -> R) async throws -> R {
        let started = ContinuousClock.now
        let outcome: String
        defer {
            let elapsed = ContinuousClock.now - started
            let (seconds, attoseconds) = elapsed.components
            Timer(label: "qantara_keystore_call_duration_seconds",
                  dimensions: [("jurisdiction", jurisdiction.code), ("call", call)])
                .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            Counter(label: "qantara_keystore_calls_total",
                    dimensions: [("jurisdiction", jurisdiction.code), ("call", call), ("outcome", outcome)]).increment()
        }
        do {
            let result = try await body()
            outcome = "ok"
            return result
        } catch {
            outcome = "error"
            throw error
        }
    }

    public func generateDataKey(tenant: String, aad: [UInt8], metadata: RequestMetadata) async throws -> GeneratedKey {
        try await measure("generateDataKey") { try await inner.generateDataKey(tenant: tenant, aad: aad, metadata: metadata) }
    }

    public func decrypt(tenant: String, wrapped: WrappedKey, aad: [UInt8], metadata: RequestMetadata) async throws
        -> SecretKey
    {
        try await measure("decrypt") { try await inner.decrypt(tenant: tenant, wrapped: wrapped, aad: aad, metadata: metadata) }
    }

    public func encrypt(tenant: String, plaintext: SecretKey, aad: [UInt8], metadata: RequestMetadata) async throws
        -> WrappedKey
    {
        try await measure("encrypt") {
            try await inner.encrypt(tenant: tenant, plaintext: plaintext, aad: aad, metadata: metadata)
        }
    }

    public func rewrap(tenant: String, wrapped: WrappedKey, aad: [UInt8], metadata: RequestMetadata) async throws
        -> WrappedKey
    {
        try await measure("rewrap") { try await inner.rewrap(tenant: tenant, wrapped: wrapped, aad: aad, metadata: metadata) }
    }

    public func keys(tenant: String?, metadata: RequestMetadata) async throws -> [KeyVersionInfo] {
        try await measure("keys") { try await inner.keys(tenant: tenant, metadata: metadata) }
    }

    public func authorities() async throws -> [AuthorityKey] {
        try await measure("authorities") { try await inner.authorities() }
    }

    public func decideRead(_ read: CrossBorderRead, metadata: RequestMetadata) async throws -> CrossBorderVerdict {
        try await measure("decideRead") { try await inner.decideRead(read, metadata: metadata) }
    }

    public func releaseDataKey(_ release: DataKeyRelease, metadata: RequestMetadata) async throws -> SecretKey {
        try await measure("releaseDataKey") { try await inner.releaseDataKey(release, metadata: metadata) }
    }

    public func grants(metadata: RequestMetadata) async throws -> [GrantStatus] {
        try await measure("grants") { try await inner.grants(metadata: metadata) }
    }

    public func useGrant(id: String, requests: Int64, bytes: Int64, metadata: RequestMetadata) async throws
        -> GrantStatus
    {
        try await measure("useGrant") { try await inner.useGrant(id: id, requests: requests, bytes: bytes, metadata: metadata) }
    }

    public func administer(_ proof: AdministratorProof, body: [UInt8], metadata: RequestMetadata) async throws
        -> AuthorityOutcome
    {
        try await measure("administer") { try await inner.administer(proof, body: body, metadata: metadata) }
    }

    public func authenticateAdministrator(_ proof: AdministratorProof, body: [UInt8], metadata: RequestMetadata)
        async throws -> AdministratorInfo
    {
        try await measure("authenticateAdministrator") {
            try await inner.authenticateAdministrator(proof, body: body, metadata: metadata)
        }
    }

    public func signCheckpoint(_ request: CheckpointRequest, metadata: RequestMetadata) async throws -> String {
        try await measure("signCheckpoint") { try await inner.signCheckpoint(request, metadata: metadata) }
    }

    public func latestCheckpoint(metadata: RequestMetadata) async throws -> String? {
        try await measure("latestCheckpoint") { try await inner.latestCheckpoint(metadata: metadata) }
    }

    public func checkpoints(metadata: RequestMetadata) async throws -> [String] {
        try await measure("checkpoints") { try await inner.checkpoints(metadata: metadata) }
    }

    public func health() async throws -> KeyStoreHealth {
        try await measure("health") { try await inner.health() }
    }
}
