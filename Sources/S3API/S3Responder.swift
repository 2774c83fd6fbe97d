import HTTPTypes
import Hashing
import Hummingbird
import Logging
import NIOCore
import ObjectModel
import ObjectService
import SigV4
import Sovereignty

/// The gateway's S3 front: every request goes through ``respond(to:context:)``, which reads top to bottom:
/// parse → authenticate (the service makes the ``Principal``) → dispatch → errors. Ownership and the sovereignty rule
/// are decided inside the service, on every call, not here.
public struct S3Responder: HTTPResponder {
    public typealias Context = BasicRequestContext

    let service: ObjectService
    let domains: [String]
    /// Where this gateway runs: buckets of other jurisdictions are across a border.
    let jurisdiction: Jurisdiction
    let logger: Logger
    /// Whether each request's log line names its object key (off: keys can be personal data).
    let logKeys: Bool

    /// A responder over `service` for a gateway in `jurisdiction`; `domains` enable virtual-hosted-style addressing.
    public init(service: ObjectService, domains: [String], jurisdiction: Jurisdiction, logger: Logger,
                logKeys: Bool = false) {
        self.service = service
        self.domains = domains
        self.jurisdiction = jurisdiction
        self.logger = logger
        self.logKeys = logKeys
    }

    /// What a request's log line and metrics say of it, learnt as it is parsed.
    struct RequestFacts {
        var resource: String
        var operation = "Unknown"
        var bucket: String?
        var key: String?
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let requestID = Self.newRequestID()
        let started = ContinuousClock.now
        var facts = RequestFacts(resource: request.uri.path)
        var response: Response
        do {
            response = try await handle(request, requestID: requestID, facts: &facts)
            response.headers[.init("x-amz-request-id")!] = requestID
        } catch {
            let resource = facts.resource
            let s3Error = S3Error(error)
            if s3Error.status.code >= 500 {
                logger.error("request failed", metadata: ["request.id": "\(requestID)", "error": "\(error)",
                                                          "resource": "\(resource)"])
            } else {
                logger.debug("request refused", metadata: ["request.id": "\(requestID)", "code": "\(s3Error.code)",
                                                           "resource": "\(resource)"])
            }
            response = Self.errorResponse(s3Error, resource: s3Error.resource ?? resource, requestID: requestID,
                                          method: request.method, closeConnection: Self.hasBody(request))
        }
        let elapsed = ContinuousClock.now - started
        // Bytes as declared, counted only for what succeeded (a refused request's declared length is anyone's word;
        // a successful upload's was checked), and none for a HEAD's body that is not sent.
        let succeeded = response.status.code < 400
        let bytesIn = succeeded ? max(0, (request.headers[.init("x-amz-decoded-content-length")!]
            ?? request.headers[.contentLength]).flatMap(Int64.init) ?? 0) : 0
        let bytesOut = request.method == .head ? 0 : max(0, response.headers[.contentLength].flatMap(Int64.init) ?? 0)
        RequestMetrics.record(operation: facts.operation, status: Int(response.status.code), gateway: jurisdiction,
                              duration: elapsed, bytesIn: bytesIn, bytesOut: bytesOut)
        // One line per request; object keys only when the operator asked for them (`--log-keys`).
        logger.info("request", metadata: {
            var metadata: Logger.Metadata = [
                "request.id": "\(requestID)", "operation": "\(facts.operation)",
                "status": "\(response.status.code)", "bytes.in": "\(bytesIn)", "bytes.out": "\(bytesOut)",
                "latency.ms": "\(Double(elapsed.nanoseconds) / 1e6)",
            ]
            // The bucket as parsed, before authentication: only a valid bucket name (no control characters that
            // could forge log lines).
            if let bucket = facts.bucket { metadata["bucket"] = "\(BucketName.problem(bucket) == nil ? bucket : "(invalid)")" }
            if logKeys, let key = facts.key {
                metadata["key"] = "\(String(key.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) }))"
            }
            return metadata
        }())
        return response
    }

    /// The request as the S3 layer sees it (the one parse of path, host, query and headers).
    public static func parse(_ request: Request, domains: [String]) throws -> S3Request {
        try checkHeaderSize(request)
        let headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
        return try S3Request(method: request.method.rawValue, rawPath: request.uri.path,
                             rawQuery: request.uri.query ?? "", host: request.head.authority ?? "", headers: headers,
                             domains: domains)
    }

    private func handle(_ request: Request, requestID: String, facts: inout RequestFacts) async throws -> Response {
        let s3 = try Self.parse(request, domains: domains)
        facts.resource = s3.resource
        facts.operation = s3.operation.name
        facts.bucket = s3.bucket
        facts.key = s3.key
        let (principal, verified) = try service.authenticate(s3.signable, gateway: jurisdiction, requestID: requestID)
        try Self.checkACLHeaders(s3)
        let call = S3Call(request: s3, principal: principal,
                          body: PayloadReader(body: request.body, request: s3, verified: verified),
                          service: service, requestID: requestID, logger: logger)
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
        case .getObjectAttestation: return try await GetHandler.attestation(call)
        case .getBucketAttestation: return try await GetHandler.bucketAttestation(call)
        case .listMultipartUploads: return try await MultipartHandlers.listUploads(call)
        case .putObjectTagging: return try await TaggingHandlers.put(call)
        case .getObjectTagging: return try await TaggingHandlers.get(call)
        case .deleteObjectTagging: return try await TaggingHandlers.delete(call)
        case .getObjectAttributes: return try await TaggingHandlers.attributes(call)
        case .getBucketVersioning: return try await BucketHandlers.getVersioning(call)
        case .putBucketVersioning: return try await BucketHandlers.putVersioning(call)
        case .getObjectLockConfiguration: return try await ObjectLockHandlers.getConfiguration(call)
        case .putObjectLockConfiguration: return try await ObjectLockHandlers.putConfiguration(call)
        case .getObjectRetention: return try await ObjectLockHandlers.getRetention(call)
        case .putObjectRetention: return try await ObjectLockHandlers.putRetention(call)
        case .getObjectLegalHold: return try await ObjectLockHandlers.getLegalHold(call)
        case .putObjectLegalHold: return try await ObjectLockHandlers.putLegalHold(call)
        case .notImplemented(let what): throw S3Error.notImplemented(what)
        case .methodNotAllowed: throw S3Error.methodNotAllowed(s3.method)
        }
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

    static func checkHeaderSize(_ request: Request) throws {
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

    public static func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength], length != "0" { return true }
        return request.headers[.transferEncoding] != nil
    }

    public static func newRequestID() -> String {
        Hex.encode(SecureRandom.bytes(8)).uppercased()
    }

    /// S3's XML error document. `Connection: close` when the request body was not read, so the next request on
    /// the connection cannot be mistaken for the rest of this body.
    public static func errorResponse(_ error: S3Error, resource: String, requestID: String, method: HTTPRequest.Method,
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
        for (name, value) in error.headers { if let field = HTTPField.Name(name) { headers[field] = value } }
        if error.status == .serviceUnavailable { headers[.retryAfter] = "1" }
        if method == .head || error.status == .notModified {
            // HEAD responses carry no body, so clients see the status alone (the aws CLI's `s3 cp` prints "(403)
            // Forbidden"): the code and message go in headers, which `--debug` shows.
            if error.status != .notModified {
                headers[.init("x-qantara-error-code")!] = error.code
                headers[.init("x-qantara-error-message")!] = String(error.message.unicodeScalars.map {
                    $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F ? Character($0) : "?"
                })
            }
            return Response(status: error.status, headers: headers)
        }
        let bytes = ByteBuffer(string: xml.document)
        return Response(status: error.status, headers: headers, body: ResponseBody(byteBuffer: bytes))
    }
}

/// Everything a handler needs about one authenticated request: who calls, the request, its body (through the one
/// payload reader), and the service, whose every operation takes the principal.
struct S3Call {
    let request: S3Request
    let principal: Principal
    let body: PayloadReader
    let service: ObjectService
    let requestID: String
    let logger: Logger

    /// The addressed bucket; precondition: the operation names one.
    var bucketName: String { request.bucket! }

    /// The caller's tenant (the owner shown in listings).
    var tenant: String { principal.tenant }

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

    /// A JSON success response.
    func json(_ bytes: [UInt8]) -> Response {
        var fields = headers()
        fields[.contentType] = "application/json"
        return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// An XML success response.
    func xml(_ document: String, status: HTTPResponse.Status = .ok) -> Response {
        var fields = headers()
        fields[.contentType] = "application/xml"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: document)))
    }
}
