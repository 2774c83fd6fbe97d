import AsyncHTTPClient
import Envelope
import Foundation
import KeyStore
import NIOCore
import NIOHTTP1
import ObjectModel
import Sovereignty

/// A key store in another process, reached over HTTPS with this gateway's client certificate (mutual TLS: the
/// certificate is its identity), or over HTTP with a bearer token. Implements ``KeyStoreClient`` and passes
/// the same suite as the in-process store; key-store refusals come back as the same ``KeyStoreError``s.
public final class HTTPKeyStoreClient: KeyStoreClient {
    public let jurisdiction: Jurisdiction
    let baseURL: String
    let http: HTTPClient
    let token: String?
    let timeout: TimeAmount

    public init(jurisdiction: Jurisdiction, address: String, http: HTTPClient, token: String?, tls: Bool = false,
                timeout: TimeAmount = .seconds(10)) {
        self.jurisdiction = jurisdiction
        self.baseURL = "\(tls ? "https" : "http")://\(address)\(KeyStoreWire.prefix)"
        self.http = http
        self.token = token
        self.timeout = timeout
    }

    private func call<T: Decodable>(_ endpoint: String, _ body: KeyStoreWire.Request?, method: HTTPMethod = .POST,
                                    as type: T.Type) async throws -> T {
        var request = HTTPClientRequest(url: baseURL + endpoint)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout)
            bytes = try await response.body.collect(upTo: KeyStoreWire.bodyBytesMax)
        } catch {
            throw KeyStoreError.unavailable("key store of \(jurisdiction) at \(baseURL) unreachable: \(error)")
        }
        let data = Data(bytes.readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else {
            if let failure = try? JSONDecoder().decode(KeyStoreWire.ErrorResponse.self, from: data) { throw failure.error }
            throw KeyStoreError.unavailable("key store of \(jurisdiction) answered \(response.status.code): "
                + String(decoding: data.prefix(200), as: UTF8.self))
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw KeyStoreError.unavailable("key store of \(jurisdiction) sent an unreadable answer")
        }
    }

    private func request(_ metadata: RequestMetadata, tenant: String?, aad: [UInt8]? = nil, wrapped: WrappedKey? = nil,
                         plaintext: [UInt8]? = nil) -> KeyStoreWire.Request {
        KeyStoreWire.Request(requestMetadata: metadata, tenant: tenant, additionalAuthenticatedData: aad.map { .init($0) },
                             keyVersion: wrapped?.tenantKeyVersion, ciphertext: wrapped.map { .init($0.bytes) },
                             plaintext: plaintext.map { .init($0) })
    }

    private func wrappedKey(_ response: KeyStoreWire.KeyResponse) throws -> WrappedKey {
        guard let version = response.keyVersion, let ciphertext = response.ciphertext else {
            throw KeyStoreError.unavailable("key store of \(jurisdiction) sent no wrapped key")
        }
        return WrappedKey(tenantKeyVersion: version, bytes: ciphertext.value)
    }

    private func secret(_ response: KeyStoreWire.KeyResponse) throws -> SecretKey {
        guard var plaintext = response.plaintext?.value, plaintext.count == SecretKey.sizeBytes else {
            throw KeyStoreError.unavailable("key store of \(jurisdiction) sent no key")
        }
        defer { wipe(&plaintext) }
        return SecretKey(copying: plaintext)
    }

    public func generateDataKey(tenant: String, aad: [UInt8], metadata: RequestMetadata) async throws -> GeneratedKey {
        let response = try await call("generate-data-key", request(metadata, tenant: tenant, aad: aad),
                                      as: KeyStoreWire.KeyResponse.self)
        return GeneratedKey(plaintext: try secret(response), wrapped: try wrappedKey(response),
                            createdTenantKey: response.createdTenantKey ?? false)
    }

    public func encrypt(tenant: String, plaintext: SecretKey, aad: [UInt8], metadata: RequestMetadata) async throws
        -> WrappedKey
    {
        var bytes = plaintext.exportBytes()
        defer { wipe(&bytes) }
        return try wrappedKey(try await call("encrypt", request(metadata, tenant: tenant, aad: aad, plaintext: bytes),
                                             as: KeyStoreWire.KeyResponse.self))
    }

    public func decrypt(tenant: String, wrapped: WrappedKey, aad: [UInt8], metadata: RequestMetadata) async throws
        -> SecretKey
    {
        try secret(try await call("decrypt", request(metadata, tenant: tenant, aad: aad, wrapped: wrapped),
                                  as: KeyStoreWire.KeyResponse.self))
    }

    public func decideRead(_ read: CrossBorderRead, metadata: RequestMetadata) async throws -> CrossBorderVerdict {
        var body = request(metadata, tenant: read.tenant)
        body.read = read
        return try await call("decide-read", body, as: CrossBorderVerdict.self)
    }

    public func releaseDataKey(_ release: DataKeyRelease, metadata: RequestMetadata) async throws -> SecretKey {
        var body = request(metadata, tenant: release.tenant)
        body.release = release
        return try secret(try await call("release-data-key", body, as: KeyStoreWire.KeyResponse.self))
    }

    public func rewrap(tenant: String, wrapped: WrappedKey, aad: [UInt8], metadata: RequestMetadata) async throws
        -> WrappedKey
    {
        try wrappedKey(try await call("rewrap", request(metadata, tenant: tenant, aad: aad, wrapped: wrapped),
                                      as: KeyStoreWire.KeyResponse.self))
    }

    public func keys(tenant: String?, metadata: RequestMetadata) async throws -> [KeyVersionInfo] {
        try await call("metadata", request(metadata, tenant: tenant), as: [KeyVersionInfo].self)
    }

    public func authorities() async throws -> [AuthorityKey] {
        try await call("authorities", nil, method: .GET, as: [AuthorityKey].self)
    }

    public func administer(_ proof: AdministratorProof, body: [UInt8], metadata: RequestMetadata) async throws
        -> AuthorityOutcome
    {
        var request = request(metadata, tenant: nil, plaintext: body)
        request.proof = proof
        return try await call("administer", request, as: AuthorityOutcome.self)
    }

    public func authenticateAdministrator(_ proof: AdministratorProof, body: [UInt8], metadata: RequestMetadata)
        async throws -> AdministratorInfo
    {
        var request = request(metadata, tenant: nil, plaintext: body)
        request.proof = proof
        return try await call("authenticate-administrator", request, as: AdministratorInfo.self)
    }

    public func signCheckpoint(_ checkpoint: CheckpointRequest, metadata: RequestMetadata) async throws -> String {
        var body = request(metadata, tenant: nil)
        body.checkpoint = checkpoint
        guard let note = try await call("sign-checkpoint", body, as: CheckpointAnswer.self).note else {
            throw KeyStoreError.unavailable("the key store signed no checkpoint")
        }
        return note
    }

    public func checkpoints(metadata: RequestMetadata) async throws -> [String] {
        try await call("checkpoints", request(metadata, tenant: nil), as: CheckpointAnswer.self).notes ?? []
    }

    public func latestCheckpoint(metadata: RequestMetadata) async throws -> String? {
        try await call("latest-checkpoint", request(metadata, tenant: nil), as: CheckpointAnswer.self).note
    }

    public func grants(metadata: RequestMetadata) async throws -> [GrantStatus] {
        try await call("grants", request(metadata, tenant: nil), as: [GrantStatus].self)
    }

    public func useGrant(id: String, requests: Int64, bytes: Int64, metadata: RequestMetadata) async throws
        -> GrantStatus
    {
        var body = request(metadata, tenant: nil)
        body.grantID = id
        body.requests = requests
        body.bytes = bytes
        return try await call("use-grant", body, as: GrantStatus.self)
    }

    public func health() async throws -> KeyStoreHealth {
        try await call("health", nil, method: .GET, as: KeyStoreHealth.self)
    }
}
