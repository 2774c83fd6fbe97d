import Admin
import Foundation
import HTTPTypes
import Hashing
import Hummingbird
import KeyStore
import Logging
import NIOCore
import ObjectModel
import ObjectService
import S3API
import SigV4

/// One gateway port: the admin API under `/_qantara/` (not a valid bucket name, so never a bucket), the S3 API for
/// everything else. The two are mounted side by side here; the S3 layer knows nothing of the admin API.
struct GatewayResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let s3: S3Responder
    let admin: AdminHTTP
    /// The audit logs' static view (`/.well-known/qantara/log/`, not a valid bucket name either).
    let audit: AuditTrail
    /// `/health/live`, `/health/ready` and `/metrics`.
    let operations: OperationsEndpoints

    func respond(to request: Request, context: Context) async throws -> Response {
        if request.uri.path.hasPrefix("/\(AdminAPI.pathComponent)/") {
            return await admin.respond(to: request)
        }
        if let response = await operations.respond(to: request) { return response }
        if request.uri.path.hasPrefix(LogTiles.prefix) {
            return LogTiles.respond(request, audit: audit)
        }
        return try await s3.respond(to: request, context: context)
    }
}

/// The admin API over HTTP: the request is authenticated by the service (SigV4, the same as S3), its body read
/// through the same payload reader (verified against the signature), and the call handed to ``AdminAPI`` with the
/// principal, which the service checks.
struct AdminHTTP: Sendable {
    let api: AdminAPI
    let service: ObjectService
    let domains: [String]
    let jurisdiction: Jurisdiction
    let logger: Logger

    func respond(to request: Request) async -> Response {
        let requestID = S3Responder.newRequestID()
        do {
            let s3 = try S3Responder.parse(request, domains: domains)
            if request.method == .post, request.uri.path == AdministratorProof.path {
                return try await authority(s3, body: request.body, requestID: requestID)
            }
            let (principal, verified) = try service.authenticate(s3.signable, gateway: jurisdiction,
                                                                 requestID: requestID)
            // An admin call's body says what to do: it must be bound to the signature, never UNSIGNED-PAYLOAD.
            guard case .sha256 = verified.payload else {
                throw S3Error.accessDenied("admin API calls must sign their payload's SHA-256 (x-amz-content-sha256)")
            }
            let body = try await PayloadReader(body: request.body, request: s3, verified: verified)
                .collect(limit: Limits.adminBodyBytesMax)
            let path = (s3.key ?? "").split(separator: "/").map(String.init)
            let result = await api.handle(principal, method: s3.method, path: path,
                                          query: Dictionary(s3.queryItems.map { ($0.name, $0.value) },
                                                            uniquingKeysWith: { first, _ in first }),
                                          body: body)
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.init("x-amz-request-id")!] = requestID
            return Response(status: .init(code: result.status), headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: result.body)))
        } catch {
            return failure(error, request: request, requestID: requestID)
        }
    }

    /// An administrator's authority call: its body is read through the payload reader against the signed SHA-256
    /// (required: the body is what the call does), then the administrator's signature is checked by the key store of
    /// this gateway's jurisdiction, not here (only that key store holds the administrator's secret).
    private func authority(_ s3: S3Request, body: RequestBody, requestID: String) async throws -> Response {
        guard let hash = s3.header("x-amz-content-sha256"), let digest = Hex.decode(hash), digest.count == 32 else {
            throw S3Error.accessDenied("authority calls must sign their payload's SHA-256 (x-amz-content-sha256)")
        }
        let bytes = try await PayloadReader(body: body, request: s3, payload: .sha256(digest))
            .collect(limit: Limits.adminBodyBytesMax)
        let result = await api.authority(s3.signable, body: bytes, gateway: jurisdiction, requestID: requestID)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.init("x-amz-request-id")!] = requestID
        return Response(status: .init(code: result.status), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: result.body)))
    }

    private func failure(_ error: any Error, request: Request, requestID: String) -> Response {
        let s3Error = S3Error(error)
        logger.debug("admin request refused", metadata: ["request.id": "\(requestID)", "code": "\(s3Error.code)"])
        return S3Responder.errorResponse(s3Error, resource: request.uri.path, requestID: requestID,
                                         method: request.method, closeConnection: S3Responder.hasBody(request))
    }
}
