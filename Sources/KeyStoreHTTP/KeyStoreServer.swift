import Envelope
import Foundation
import Hashing
import HTTPTypes
import Hummingbird
import KeyStore
import Logging
import NIOCore
import NIOSSL
import ObjectModel
import Sovereignty
import Synchronization

/// A requester the key store knows: its token and the identity it is granted. The identity (requester name and
/// jurisdiction) comes from here, never from the request body.
public struct KeyStoreIdentity: Codable, Sendable, Equatable {
    /// What an identity may do: a gateway uses keys; an operator of the store's own jurisdiction unseals it.
    public enum Role: String, Codable, Sendable { case gateway, `operator` }

    public var token: String
    public var requester: String
    public var jurisdiction: Jurisdiction
    /// `gateway` when absent.
    public var role: Role?
    /// Under mutual TLS, the serial number (lowercase hex) of the certificate the identity comes from.
    public var certificateSerial: String?

    public init(token: String, requester: String, jurisdiction: Jurisdiction, role: Role? = nil) {
        self.token = token
        self.requester = requester
        self.jurisdiction = jurisdiction
        self.role = role
    }
}

/// A request's context with its connection, whose TLS peer certificate is the requester's identity (key stores and,
/// under mutual TLS, storage nodes).
public struct PeerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Serves one jurisdiction's key store over HTTP (`qantara keystore`). Every call but `health` and `authorities`
/// must come from a known identity: under mutual TLS, the client certificate's (``CertificateIdentities``), else
/// the bearer token's (`Authorization: Bearer <token>`, for deployments without TLS); `unseal` only from an operator
/// of the store's own jurisdiction, at most once a second (each try runs Argon2id).
public struct KeyStoreServer: HTTPResponder {
    public typealias Context = PeerRequestContext

    let store: KeyStore
    let identities: [KeyStoreIdentity]
    /// Under mutual TLS: identities come from client certificates, and tokens are not accepted.
    let certificates: CertificateIdentities?
    /// When the store's own authority issues its jurisdiction's certificates: of J's gateways and operators only the
    /// certificate last issued for each name counts (else: any certificate not revoked).
    let boundIdentities: Bool
    let logger: Logger
    /// When the last unseal attempt began (milliseconds), to refuse a guessing flood.
    let lastUnsealMillis = UnsealThrottle()
    static let unsealIntervalMillis: Int64 = 1000

    public init(store: KeyStore, identities: [KeyStoreIdentity], certificates: CertificateIdentities? = nil,
                boundIdentities: Bool = false, logger: Logger) {
        self.store = store
        self.identities = identities
        self.certificates = certificates
        self.boundIdentities = boundIdentities
        self.logger = logger
    }

    func identity(_ request: Request, _ context: Context) async -> KeyStoreIdentity? {
        if let certificates {
            guard let peer = try? await context.channel.nioSSL_peerCertificate().get(),
                  let der = try? peer.toDERBytes() else { return nil }
            switch certificates.identity(der) {
            case .success(let identity):
                // Revocation by this jurisdiction's authority takes effect at once: the next request is nobody's.
                if identity.jurisdiction == store.jurisdiction, let serial = identity.certificateSerial {
                    let valid = boundIdentities
                        ? store.isCurrent(role: (identity.role ?? .gateway).rawValue, name: identity.requester,
                                          serial: serial)
                        : !store.isRevoked(serial: serial)
                    guard valid else {
                        logger.warning("client certificate refused", metadata: [
                            "reason": "revoked or superseded", "serial": "\(serial)"])
                        return nil
                    }
                }
                return identity
            case .failure(let refusal):
                logger.warning("client certificate refused", metadata: ["reason": "\(refusal)"])
                return nil
            }
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        let sent = Array(header.dropFirst(7).utf8)
        return identities.first { ConstantTime.equals(Array($0.token.utf8), sent) }
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix(KeyStoreWire.prefix) else { return Self.plain(.notFound, "unknown path") }
        let endpoint = String(path.dropFirst(KeyStoreWire.prefix.count))
        do {
            if endpoint == "health", request.method == .get { return try Self.json(.ok, try await store.health()) }
            if endpoint == "authorities", request.method == .get { return try Self.json(.ok, try await store.authorities()) }
            let body = try await request.body.collect(upTo: KeyStoreWire.bodyBytesMax)
            if endpoint == "unseal", request.method == .post {
                guard let operator_ = await identity(request, context), operator_.role == .operator,
                      operator_.jurisdiction == store.jurisdiction else {
                    return Self.plain(.unauthorized, "unsealing needs an operator of \(store.jurisdiction) (its "
                        + (certificates == nil ? "token)" : "certificate, OU=operator)"))
                }
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                let allowed = lastUnsealMillis.last.withLock { last in
                    guard now - last >= Self.unsealIntervalMillis else { return false }
                    last = now
                    return true
                }
                guard allowed else { return Self.plain(.tooManyRequests, "one unseal attempt per second") }
                let unseal = try JSONDecoder().decode(KeyStoreWire.UnsealRequest.self, from: Data(body.readableBytesView))
                try store.unseal(secret: Array(unseal.secret.utf8), create: false)
                logger.notice("key store unsealed", metadata: ["jurisdiction": "\(store.jurisdiction)",
                                                               "operator": "\(operator_.requester)"])
                return try Self.json(.ok, try await store.health())
            }
            guard request.method == .post else { return Self.plain(.methodNotAllowed, "POST expected") }
            guard let identity = await identity(request, context), identity.role != .operator else {
                return Self.plain(.unauthorized, certificates == nil ? "missing or unknown key-store token"
                    : "the client certificate names no requester this key store serves")
            }
            var call = try JSONDecoder().decode(KeyStoreWire.Request.self, from: Data(body.readableBytesView))
            call.requestMetadata.requester = identity.requester
            call.requestMetadata.jurisdiction = identity.jurisdiction
            return try await route(endpoint, call)
        } catch let error as KeyStoreError {
            logger.info("key-store request refused", metadata: ["endpoint": "\(endpoint)", "reason": "\(error)"])
            return try Self.json(Self.status(error), KeyStoreWire.ErrorResponse(error: error, message: error.description))
        } catch is DecodingError {
            return try Self.json(.badRequest, KeyStoreWire.ErrorResponse(
                error: .invalidRequest("malformed JSON body"), message: "malformed JSON body"))
        }
    }

    private func route(_ endpoint: String, _ call: KeyStoreWire.Request) async throws -> Response {
        let metadata = call.requestMetadata
        func tenant() throws -> String {
            guard let tenant = call.tenant else { throw KeyStoreError.invalidRequest("tenant is required") }
            return tenant
        }
        func wrapped() throws -> WrappedKey {
            guard let version = call.keyVersion, let ciphertext = call.ciphertext else {
                throw KeyStoreError.invalidRequest("keyVersion and ciphertext are required")
            }
            return WrappedKey(tenantKeyVersion: version, bytes: ciphertext.value)
        }
        let aad = call.additionalAuthenticatedData?.value ?? []
        switch endpoint {
        case "generate-data-key":
            let key = try await store.generateDataKey(tenant: try tenant(), aad: aad, metadata: metadata)
            return try Self.json(.ok, KeyStoreWire.KeyResponse(keyVersion: key.wrapped.tenantKeyVersion,
                                                                ciphertext: .init(key.wrapped.bytes),
                                                                plaintext: .init(key.plaintext.exportBytes()),
                                                                createdTenantKey: key.createdTenantKey))
        case "encrypt":
            guard let plaintext = call.plaintext else { throw KeyStoreError.invalidRequest("plaintext is required") }
            let key = try await store.encrypt(tenant: try tenant(), plaintext: SecretKey(copying: plaintext.value),
                                              aad: aad, metadata: metadata)
            return try Self.json(.ok, KeyStoreWire.KeyResponse(keyVersion: key.tenantKeyVersion, ciphertext: .init(key.bytes)))
        case "decrypt":
            let key = try await store.decrypt(tenant: try tenant(), wrapped: try wrapped(), aad: aad, metadata: metadata)
            return try Self.json(.ok, KeyStoreWire.KeyResponse(plaintext: .init(key.exportBytes())))
        case "decide-read":
            guard let read = call.read else { throw KeyStoreError.invalidRequest("read is required") }
            return try Self.json(.ok, try await store.decideRead(read, metadata: metadata))
        case "release-data-key":
            guard let release = call.release else { throw KeyStoreError.invalidRequest("release is required") }
            let key = try await store.releaseDataKey(release, metadata: metadata)
            return try Self.json(.ok, KeyStoreWire.KeyResponse(plaintext: .init(key.exportBytes())))
        case "rewrap":
            let key = try await store.rewrap(tenant: try tenant(), wrapped: try wrapped(), aad: aad, metadata: metadata)
            return try Self.json(.ok, KeyStoreWire.KeyResponse(keyVersion: key.tenantKeyVersion, ciphertext: .init(key.bytes)))
        case "metadata":
            return try Self.json(.ok, try await store.keys(tenant: call.tenant, metadata: metadata))
        case "administer":
            guard let proof = call.proof, let body = call.plaintext else {
                throw KeyStoreError.invalidRequest("proof and body are required")
            }
            return try Self.json(.ok, try await store.administer(proof, body: body.value, metadata: metadata))
        case "authenticate-administrator":
            guard let proof = call.proof, let body = call.plaintext else {
                throw KeyStoreError.invalidRequest("proof and body are required")
            }
            return try Self.json(.ok, try await store.authenticateAdministrator(proof, body: body.value,
                                                                                metadata: metadata))
        case "sign-checkpoint":
            guard let request = call.checkpoint else { throw KeyStoreError.invalidRequest("the checkpoint is required") }
            return try Self.json(.ok, CheckpointAnswer(note: try await store.signCheckpoint(request, metadata: metadata)))
        case "checkpoints":
            return try Self.json(.ok, CheckpointAnswer(note: nil, notes: try await store.checkpoints(metadata: metadata)))
        case "latest-checkpoint":
            return try Self.json(.ok, CheckpointAnswer(note: try await store.latestCheckpoint(metadata: metadata)))
        case "grants":
            return try Self.json(.ok, try await store.grants(metadata: metadata))
        case "use-grant":
            guard let id = call.grantID else { throw KeyStoreError.invalidRequest("grantID is required") }
            return try Self.json(.ok, try await store.useGrant(id: id, requests: call.requests ?? 0,
                                                                bytes: call.bytes ?? 0, metadata: metadata))
        default:
            return Self.plain(.notFound, "unknown endpoint \(endpoint)")
        }
    }

    static func status(_ error: KeyStoreError) -> HTTPResponse.Status {
        switch error {
        case .sealed, .unavailable: return .serviceUnavailable
        case .wrongJurisdiction, .grantRefused, .notAuthority: return .forbidden
        case .tenantKeyDestroyed, .versionRetired: return .gone
        case .noTenantKey, .unknownVersion: return .notFound
        case .wrappedKeyRejected, .invalidRequest: return .badRequest
        case .wrongUnsealSecret: return .unauthorized
        case .corrupt: return .internalServerError
        }
    }

    static func json(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(value))))
    }

    static func plain(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(status: status, body: ResponseBody(byteBuffer: ByteBuffer(string: message)))
    }
}

/// The time of the last unseal attempt, shared by every request the server handles.
final class UnsealThrottle: Sendable {
    let last = Mutex<Int64>(0)
}
