import Admin
import HTTPTypes
import Hashing
import Hummingbird
import Logging
import NIOCore
import ObjectModel
import ObjectService
import SigV4
import Sovereignty

/// The gateway's HTTP front: every request goes through ``respond(to:context:)``, which reads top to bottom:
/// parse → authenticate → resolve bucket → sovereignty decision (reads of a bucket of another jurisdiction) →
/// dispatch → errors.
public struct S3Responder: HTTPResponder {
    public typealias Context = BasicRequestContext

    let service: ObjectService
    let gate: SovereigntyGate
    let admin: AdminAPI
    let domains: [String]
    /// Where this gateway runs: reads of buckets of other jurisdictions cross a border.
    let jurisdiction: Jurisdiction
    let logger: Logger

    /// A responder over `service` for a gateway in `jurisdiction`; `domains` enable virtual-hosted-style addressing.
    public init(service: ObjectService, gate: SovereigntyGate, admin: AdminAPI, domains: [String],
                jurisdiction: Jurisdiction, logger: Logger) {
        self.service = service
        self.gate = gate
        self.admin = admin
        self.domains = domains
        self.jurisdiction = jurisdiction
        self.logger = logger
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let requestID = Self.newRequestID()
        var resource = request.uri.path
        do {
            var response = try await handle(request, requestID: requestID, resource: &resource)
            response.headers[.init("x-amz-request-id")!] = requestID
            return response
        } catch {
            let s3Error = S3Error(error)
            if s3Error.status.code >= 500 {
                logger.error("request failed", metadata: ["request.id": "\(requestID)", "error": "\(error)",
                                                          "resource": "\(resource)"])
            } else {
                logger.debug("request refused", metadata: ["request.id": "\(requestID)", "code": "\(s3Error.code)",
                                                           "resource": "\(resource)"])
            }
            return Self.errorResponse(s3Error, resource: s3Error.resource ?? resource, requestID: requestID,
                                      method: request.method, closeConnection: Self.hasBody(request))
        }
    }

    private func handle(_ request: Request, requestID: String, resource: inout String) async throws -> Response {
        try Self.checkHeaderSize(request)
        let headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
        let host = request.head.authority ?? ""
        let s3 = try S3Request(method: request.method.rawValue, rawPath: request.uri.path,
                               rawQuery: request.uri.query ?? "", host: host, headers: headers, domains: domains)
        resource = s3.resource
        let identity = try authenticate(s3)
        if s3.bucket == AdminAPI.pathComponent {
            return try await handleAdmin(s3, identity: identity, body: request.body)
        }
        try Self.checkACLHeaders(s3)
        var crossing: SovereigntyGate.Crossing?
        if let read = s3.operation.sovereignRead, let name = s3.bucket {
            let record = try service.bucket(name, tenant: identity.key.tenant)
            let listing = read == .listObjects || read == .listMultipartUploads
            crossing = try await gate.check(
                SovereigntyRequest(kind: .read(read), tenant: record.tenant, bucket: name,
                                   key: listing ? nil : s3.key, prefix: listing ? (s3.query("prefix") ?? "") : nil,
                                   gateway: jurisdiction),
                bucketJurisdiction: record.jurisdiction, requestID: requestID, requester: identity.key.accessKeyID)
        }
        let call = S3Call(request: s3, tenant: identity.key.tenant, verified: identity.verified, body: request.body,
                          service: service, gate: gate, gateway: jurisdiction, crossing: crossing, requestID: requestID,
                          logger: logger)
        switch s3.operation {
        case .listBuckets: return try BucketHandlers.listBuckets(call)
        case .createBucket: return try await BucketHandlers.createBucket(call)
        case .headBucket: return try BucketHandlers.headBucket(call)
        case .deleteBucket: return try await BucketHandlers.deleteBucket(call)
        case .getBucketLocation: return try BucketHandlers.location(call)
        case .listObjectsV1: return try await ListHandlers.listV1(call)
        case .listObjectsV2: return try await ListHandlers.listV2(call)
        case .putObject: return try await PutHandler.putObject(call)
        case .getObject: return try await GetHandler.getObject(call, includeBody: true)
        case .headObject: return try await GetHandler.getObject(call, includeBody: false)
        case .deleteObject: return try await DeleteHandler.deleteObject(call)
        case .deleteObjects: return try await DeleteHandler.deleteObjects(call)
        case .copyObject: return try await CopyHandler.copyObject(call)
        case .listObjectVersions: return try await ListHandlers.listVersions(call)
        case .createMultipartUpload: return try await MultipartHandlers.create(call)
        case .uploadPart: return try await MultipartHandlers.uploadPart(call)
        case .uploadPartCopy: return try await CopyHandler.uploadPartCopy(call)
        case .completeMultipartUpload: return try await MultipartHandlers.complete(call)
        case .abortMultipartUpload: return try await MultipartHandlers.abort(call)
        case .listParts: return try await MultipartHandlers.listParts(call)
        case .listMultipartUploads: return try await MultipartHandlers.listUploads(call)
        case .notImplemented(let what): throw S3Error.notImplemented(what)
        case .methodNotAllowed: throw S3Error.methodNotAllowed(s3.method)
        }
    }

    /// Checks the signature and the access key; returns who is calling.
    private func authenticate(_ s3: S3Request) throws -> (key: AccessKeyRecord, verified: VerifiedRequest) {
        let parsed = try SigV4Verifier.parse(s3.signable)
        guard let key = service.control.accessKey(parsed.accessKeyID) else {
            throw S3Error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                          status: .forbidden)
        }
        guard key.status == .active else {
            throw S3Error("InvalidAccessKeyId", "The AWS Access Key Id you provided has been revoked.", status: .forbidden)
        }
        let verified = try SigV4Verifier.verify(parsed, request: s3.signable, secret: key.secretAccessKey,
                                                nowSeconds: service.clock.nowSeconds())
        return (key, verified)
    }

    private func handleAdmin(_ s3: S3Request, identity: (key: AccessKeyRecord, verified: VerifiedRequest),
                             body: RequestBody) async throws -> Response {
        guard identity.key.isRoot else { throw S3Error.accessDenied("the admin API needs the root credentials") }
        let bytes = try await body.collect(upTo: Limits.adminBodyBytesMax)
        let payload = Array(bytes.readableBytesView)
        if case .sha256(let digest) = identity.verified.payload,
           !ConstantTime.equals(digest, StreamingDigest.hash(.sha256, payload)) {
            throw S3Error(ObjectServiceError.contentSHA256Mismatch)
        }
        let path = (s3.key ?? "").split(separator: "/").map(String.init)
        let result = await admin.handle(method: s3.method, path: path,
                                        query: Dictionary(s3.queryItems.map { ($0.name, $0.value) },
                                                          uniquingKeysWith: { first, _ in first }),
                                        body: payload)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .init(code: result.status), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: result.body)))
    }

    /// No ACLs: the canned ACLs clients send by default are accepted as no-ops, anything else is refused as AWS
    /// does under its default object ownership.
    private static func checkACLHeaders(_ s3: S3Request) throws {
        if let acl = s3.header("x-amz-acl"), acl != "private", acl != "bucket-owner-full-control" {
            throw S3Error("AccessControlListNotSupported", "The bucket does not allow ACLs", status: .badRequest)
        }
        if s3.signable.headers.contains(where: { $0.name.hasPrefix("x-amz-grant-") }) {
            throw S3Error("AccessControlListNotSupported", "The bucket does not allow ACLs", status: .badRequest)
        }
    }

    private static func checkHeaderSize(_ request: Request) throws {
        var total = 0
        var count = 0
        for field in request.headers {
            total += field.name.rawName.utf8.count + field.value.utf8.count + 4
            count += 1
        }
        guard total <= Limits.requestHeaderBytesMax, count <= Limits.requestHeaderCountMax else {
            throw S3Error("RequestHeaderSectionTooLarge", "Your request header section exceeds the maximum allowed "
                + "size of \(Limits.requestHeaderBytesMax) bytes.", status: .badRequest)
        }
    }

    static func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength], length != "0" { return true }
        return request.headers[.transferEncoding] != nil
    }

    static func newRequestID() -> String {
        Hex.encode(SecureRandom.bytes(8)).uppercased()
    }

    /// S3's XML error document. `Connection: close` when the request body was not read, so the next request on
    /// the connection cannot be mistaken for the rest of this body.
    static func errorResponse(_ error: S3Error, resource: String, requestID: String, method: HTTPRequest.Method,
                              closeConnection: Bool) -> Response {
        var xml = XMLWriter(namespace: false)
        xml.element("Error") { xml in
            xml.element("Code", error.code)
            xml.element("Message", error.message)
            for (name, value) in error.details.sorted(by: { $0.key < $1.key }) { xml.element(name, value) }
            xml.element("Resource", resource)
            xml.element("RequestId", requestID)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/xml"
        headers[.init("x-amz-request-id")!] = requestID
        if closeConnection { headers[.connection] = "close" }
        if error.status == .serviceUnavailable { headers[.retryAfter] = "1" }
        if method == .head || error.status == .notModified {
            // HEAD responses carry no body; clients read the status alone.
            return Response(status: error.status, headers: headers)
        }
        let bytes = ByteBuffer(string: xml.document)
        return Response(status: error.status, headers: headers, body: ResponseBody(byteBuffer: bytes))
    }
}

/// Everything a handler needs about one authenticated request.
struct S3Call {
    let request: S3Request
    let tenant: String
    let verified: VerifiedRequest
    let body: RequestBody
    let service: ObjectService
    let gate: SovereigntyGate
    /// Where the serving gateway runs.
    let gateway: Jurisdiction
    /// The cross-border read a grant let through, if this is one (the key store checks the grant again).
    let crossing: SovereigntyGate.Crossing?
    var grantID: String? { crossing?.grantID }
    let requestID: String
    let logger: Logger

    /// The addressed bucket; precondition: the operation names one.
    var bucketName: String { request.bucket! }

    /// The addressed key, checked against S3's limits.
    func objectKey() throws -> String {
        let key = request.key!
        if let problem = ObjectKey.problem(key) {
            if key.utf8.count > Limits.objectKeyBytesMax {
                throw ObjectServiceError.keyTooLong(key.utf8.count)
            }
            throw S3Error.invalidArgument(problem)
        }
        return key
    }

    /// Response headers every success carries.
    func headers() -> HTTPFields {
        var fields = HTTPFields()
        fields[.init("x-amz-request-id")!] = requestID
        return fields
    }

    /// An XML success response.
    func xml(_ document: String, status: HTTPResponse.Status = .ok) -> Response {
        var fields = headers()
        fields[.contentType] = "application/xml"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: document)))
    }
}
