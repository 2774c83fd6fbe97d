import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ObjectModel
import ObjectService

/// PutObject: the body streams through the payload reader (aws-chunked decoding, if any) into an ``ObjectWriter``,
/// which verifies it and stores it in segments; nothing is visible until every check has passed.
enum PutHandler {
    static func putObject(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let expectations = try call.body.expectations()
        let writer = try await call.service.putObject(call.principal, call.bucketName, key,
                                                      metadata: try ObjectHeaders.metadata(from: call.request),
                                                      condition: try Conditions.write(call.request),
                                                      expectations: expectations,
                                                      lock: try ObjectHeaders.lock(from: call.request))
        let written = try await call.body.upload(into: writer)
        var headers = call.headers()
        headers[.eTag] = "\"\(written.etag)\""
        if let version = written.versionID { headers[.init("x-amz-version-id")!] = version }
        if let algorithm = expectations.checksumAlgorithm, let value = written.checksumValue {
            headers[.init(algorithm.headerName)!] = value
        }
        return Response(status: .ok, headers: headers)
    }
}

/// Object metadata from request headers.
enum ObjectHeaders {
    /// The object lock a write asks for: `x-amz-object-lock-mode`, `-retain-until-date` (ISO 8601) and
    /// `-legal-hold` (`ON`, `OFF`); nil when it names none. The service checks the rest.
    static func lock(from request: S3Request) throws -> ObjectLockRequest? {
        var lock = ObjectLockRequest(mode: request.header("x-amz-object-lock-mode"))
        if let date = request.header("x-amz-object-lock-retain-until-date") {
            guard let seconds = Timestamps.parseISO8601(date) else {
                throw S3Error.invalidArgument("The retain until date is not a valid ISO 8601 date")
            }
            lock.retainUntilMillis = seconds * 1000
        }
        if let hold = request.header("x-amz-object-lock-legal-hold") {
            switch hold.uppercased() {
            case "ON": lock.legalHold = true
            case "OFF": lock.legalHold = false
            default: throw S3Error.invalidArgument("Legal Hold must be either of 'ON' or 'OFF'")
            }
        }
        return lock.isEmpty ? nil : lock
    }

    /// `x-amz-version-id`, and object lock's headers, of a version read.
    static func addVersion(_ info: ObjectInfo, to headers: inout HTTPFields) {
        if let version = info.versionID { headers[.init("x-amz-version-id")!] = version }
        if let mode = info.lockMode, let until = info.retainUntilMillis {
            headers[.init("x-amz-object-lock-mode")!] = mode
            headers[.init("x-amz-object-lock-retain-until-date")!] = Timestamps.iso8601(millis: until)
        }
        if info.legalHold { headers[.init("x-amz-object-lock-legal-hold")!] = "ON" }
    }

    static func metadata(from request: S3Request) throws -> ObjectMetadata {
        var metadata = ObjectMetadata()
        metadata.contentType = request.header("content-type")
        metadata.cacheControl = request.header("cache-control")
        metadata.contentDisposition = request.header("content-disposition")
        metadata.contentLanguage = request.header("content-language")
        metadata.expires = request.header("expires")
        if let encoding = request.header("content-encoding") {
            metadata.contentEncoding = storedContentEncoding(encoding)
        }
        var total = 0
        for (name, value) in request.signable.headers where name.hasPrefix("x-amz-meta-") {
            let short = String(name.dropFirst("x-amz-meta-".count))
            total += short.utf8.count + value.utf8.count
            metadata.user.append((short, value))
        }
        guard total <= Limits.userMetadataBytesMax else { throw ObjectServiceError.metadataTooLarge(total) }
        if let tagging = request.header("x-amz-tagging") {
            metadata.tags = try TaggingHandlers.headerTags(tagging)
            if let problem = ObjectTags.problem(metadata.tags) { throw ObjectServiceError.invalidTag(problem) }
        }
        return metadata
    }

    /// The `Content-Encoding` an object keeps: `aws-chunked` describes the transfer, not the object, so S3 drops it;
    /// the rest is kept as sent, byte for byte (nil when nothing is left).
    static func storedContentEncoding(_ header: String) -> String? {
        let segments = header.split(separator: ",", omittingEmptySubsequences: false)
        let kept = segments.filter { $0.trimmingCharacters(in: .whitespaces).lowercased() != "aws-chunked" }
        guard kept.count != segments.count else { return header.isEmpty ? nil : header }
        let rest = kept.joined(separator: ",").trimmingCharacters(in: .whitespaces)
        return rest.isEmpty ? nil : rest
    }
}
