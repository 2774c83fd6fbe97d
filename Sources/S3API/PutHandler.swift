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
                                                      expectations: expectations)
        let written = try await call.body.upload(into: writer)
        var headers = call.headers()
        headers[.eTag] = "\"\(written.etag)\""
        if let algorithm = expectations.checksumAlgorithm, let value = written.checksumValue {
            headers[.init(algorithm.headerName)!] = value
        }
        return Response(status: .ok, headers: headers)
    }
}

/// Object metadata from request headers.
enum ObjectHeaders {
    static func metadata(from request: S3Request) throws -> ObjectMetadata {
        var metadata = ObjectMetadata()
        metadata.contentType = request.header("content-type")
        metadata.cacheControl = request.header("cache-control")
        metadata.contentDisposition = request.header("content-disposition")
        metadata.contentLanguage = request.header("content-language")
        metadata.expires = request.header("expires")
        if let encoding = request.header("content-encoding") {
            // aws-chunked describes the transfer, not the object: S3 drops it.
            let kept = encoding.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && $0 != "aws-chunked" }
            metadata.contentEncoding = kept.isEmpty ? nil : kept.joined(separator: ",")
        }
        var total = 0
        for (name, value) in request.signable.headers where name.hasPrefix("x-amz-meta-") {
            let short = String(name.dropFirst("x-amz-meta-".count))
            total += short.utf8.count + value.utf8.count
            metadata.user.append((short, value))
        }
        guard total <= Limits.userMetadataBytesMax else { throw ObjectServiceError.metadataTooLarge(total) }
        return metadata
    }
}
