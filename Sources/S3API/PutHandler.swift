import Foundation
import HTTPTypes
import Hashing
import Hummingbird
import NIOCore
import ObjectModel
import ObjectService
import SigV4
import StorageNode

/// PutObject: streams the body through aws-chunked decoding (if any) into an ``ObjectWriter``, which hashes it
/// once and stores it in segments; nothing is visible until every check has passed.
enum PutHandler {
    static func putObject(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let record = try call.service.bucket(call.bucketName, tenant: call.tenant)
        let metadata = try ObjectHeaders.metadata(from: call.request)
        let expectations = try expectations(call)
        let writer = try await call.service.store.writer(record.jurisdiction, tenant: record.tenant, bucket: record.name,
                                                         key: key, metadata: metadata,
                                                         condition: try Conditions.write(call.request),
                                                         expectations: expectations, gateway: call.gateway)
        let result = try await stream(call, into: writer, expectations: expectations)
        var headers = call.headers()
        headers[.eTag] = "\"\(result.etag)\""
        if let algorithm = expectations.checksumAlgorithm, let value = result.checksumValue {
            headers[.init(algorithm.headerName)!] = value
        }
        return Response(status: .ok, headers: headers)
    }

    /// Streams the request body (decoding aws-chunked if needed) into `writer` and finishes it; aborts on failure.
    static func stream(_ call: S3Call, into writer: ObjectWriter, expectations: PayloadExpectations) async throws
        -> WriteResult
    {
        do {
            let trailers = try await BodyCollector.read(call, consume: { try writer.append($0) },
                                                        afterBuffer: { try await writer.flush() })
            let trailerChecksum = expectations.checksumAlgorithm.flatMap { algorithm in
                trailers.first { $0.name == algorithm.headerName }?.value
            }
            return try await writer.finish(trailerChecksum: trailerChecksum)
        } catch {
            await writer.abort()
            throw error
        }
    }

    /// What the body must match: declared length, signed digest, Content-MD5, additional checksum.
    static func expectations(_ call: S3Call) throws -> PayloadExpectations {
        let request = call.request
        var expectations = PayloadExpectations()
        if call.verified.payload.isChunked {
            guard let text = request.header("x-amz-decoded-content-length"), let size = Int64(text), size >= 0 else {
                throw S3Error("MissingContentLength", "aws-chunked uploads need x-amz-decoded-content-length",
                              status: .lengthRequired)
            }
            expectations.sizeBytes = size
        } else if let text = request.header("content-length") {
            guard let size = Int64(text), size >= 0 else { throw S3Error.invalidArgument("invalid Content-Length") }
            expectations.sizeBytes = size
        } else if request.header("transfer-encoding") == nil {
            throw S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.",
                          status: .lengthRequired)
        }
        if let size = expectations.sizeBytes, size > Limits.objectSizeBytesMaxSinglePut {
            throw ObjectServiceError.entityTooLarge(size)
        }
        if case .sha256(let digest) = call.verified.payload { expectations.sha256 = digest }
        if let md5 = request.header("content-md5") {
            guard let digest = Base64.decode(md5), digest.count == 16 else {
                throw S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.", status: .badRequest)
            }
            expectations.contentMD5 = digest
        }
        // The checksum: a header with its value, or announced in x-amz-trailer, or named by the SDK header.
        let sent = ChecksumAlgorithm.allCases.filter { request.header($0.headerName) != nil }
        guard sent.count <= 1 else {
            throw S3Error.invalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
        }
        if let algorithm = sent.first {
            let value = request.header(algorithm.headerName)!
            guard Base64.decode(value) != nil else {
                throw S3Error.invalidRequest("Value for \(algorithm.headerName) header is invalid.")
            }
            expectations.checksumAlgorithm = algorithm
            expectations.checksumValue = value
        } else if let trailer = request.header("x-amz-trailer") {
            guard let algorithm = ChecksumAlgorithm.allCases.first(where: { $0.headerName == trailer.lowercased() }) else {
                throw S3Error.invalidRequest("The value specified in the x-amz-trailer header is not supported")
            }
            guard call.verified.payload.isChunked else {
                throw S3Error.invalidRequest("x-amz-trailer needs an aws-chunked body")
            }
            expectations.checksumAlgorithm = algorithm
        } else if let name = request.header("x-amz-sdk-checksum-algorithm") {
            guard let algorithm = ChecksumAlgorithm(name: name) else {
                throw S3Error.invalidRequest("Checksum algorithm \(name) is not supported")
            }
            expectations.checksumAlgorithm = algorithm
        }
        return expectations
    }
}

/// Object metadata from request headers, and back to response headers.
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
