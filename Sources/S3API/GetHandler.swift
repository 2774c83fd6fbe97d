import Foundation
import Hashing
import HTTPTypes
import Hummingbird
import NIOCore
import ObjectModel
import ObjectService
import Sovereignty

/// GetObject and HeadObject: one located version, a single range at most, streamed segment by segment.
enum GetHandler {
    /// A location attestation of the object's newest version, for the nonce given (1 to 128 characters), with a
    /// consistency proof from the checkpoint size `since` when given: a read of the object's metadata, decided and
    /// audited as one.
    static func attestation(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        guard let nonce = call.request.query("nonce"), !nonce.isEmpty, nonce.utf8.count <= 128,
              !nonce.contains(where: { $0.isNewline }) else {
            throw S3Error.invalidArgument("an attestation needs a nonce of 1 to 128 characters")
        }
        let attestation = try await call.service.attest(call.principal, call.bucketName, key,
                                                        versionID: call.request.query("versionId"), nonce: nonce,
                                                        since: try since(call))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return call.json(Array(try encoder.encode(attestation)))
    }
    /// A bucket attestation for the nonce given, proving the sampled keys (`keys`: base64url keys, comma-separated):
    /// a listing of the whole bucket, decided and audited as one.
    static func bucketAttestation(_ call: S3Call) async throws -> Response {
        guard let nonce = call.request.query("nonce"), !nonce.isEmpty, nonce.utf8.count <= 128,
              !nonce.contains(where: { $0.isNewline }) else {
            throw S3Error.invalidArgument("an attestation needs a nonce of 1 to 128 characters")
        }
        var sampled = [String]()
        for encoded in (call.request.query("keys") ?? "").split(separator: ",") {
            guard let bytes = Base64URL.decode(encoded), let key = String(validating: bytes, as: UTF8.self) else {
                throw S3Error.invalidArgument("keys are base64url UTF-8 object keys, comma-separated")
            }
            sampled.append(key)
        }
        let attestation = try await call.service.attestBucket(call.principal, call.bucketName, nonce: nonce,
                                                              sampled: sampled, since: try since(call))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return call.json(Array(try encoder.encode(attestation)))
    }

    /// `since`: the size of a checkpoint the asker holds, for a consistency proof from it.
    static func since(_ call: S3Call) throws -> UInt64? {
        guard let held = call.request.query("since") else { return nil }
        guard let size = UInt64(held), size > 0 else {
            throw S3Error.invalidArgument("since is the size of a checkpoint you hold (a positive integer)")
        }
        return size
    }

    static let responseOverrides: [(query: String, header: HTTPField.Name)] = [
        ("response-content-type", .contentType), ("response-content-language", .contentLanguage),
        ("response-expires", .expires), ("response-cache-control", .cacheControl),
        ("response-content-disposition", .contentDisposition), ("response-content-encoding", .contentEncoding),
    ]

    static func getObject(_ call: S3Call, includeBody: Bool) async throws -> Response {
        let key = try call.objectKey()
        let operation: ReadOperation = includeBody ? .getObject : .headObject
        let object: StoredObject
        if let version = call.request.query("versionId") {
            object = try await call.service.objectVersion(call.principal, call.bucketName, key, versionID: version,
                                                          operation: operation, conditions: Conditions.read(call.request))
        } else {
            object = try await call.service.object(call.principal, call.bucketName, key, operation: operation,
                                                   conditions: Conditions.read(call.request))
        }
        let info = object.info
        var headers = call.headers()
        ObjectHeaders.addVersion(info, to: &headers)
        headers[.eTag] = "\"\(info.etag)\""
        headers[.lastModified] = Timestamps.httpDate(info.lastModifiedMillis / 1000)
        headers[.acceptRanges] = "bytes"
        headers[.contentType] = info.metadata.contentType ?? "binary/octet-stream"
        if let value = info.metadata.cacheControl { headers[.cacheControl] = value }
        if let value = info.metadata.contentDisposition { headers[.contentDisposition] = value }
        if let value = info.metadata.contentEncoding { headers[.contentEncoding] = value }
        if let value = info.metadata.contentLanguage { headers[.contentLanguage] = value }
        if let value = info.metadata.expires { headers[.expires] = value }
        for (name, value) in info.metadata.user {
            if let field = HTTPField.Name("x-amz-meta-" + name) { headers[field] = value }
        }
        if !info.metadata.tags.isEmpty { headers[.init("x-amz-tagging-count")!] = String(info.metadata.tags.count) }
        for override in responseOverrides {
            if let value = call.request.query(override.query) { headers[override.header] = value }
        }
        let size = info.sizeBytes
        var range: ClosedRange<Int64>?
        if let text = call.request.query("partNumber") {
            range = try partRange(text, info)
            if !info.parts.isEmpty { headers[.init("x-amz-mp-parts-count")!] = String(info.parts.count) }
        } else if let header = call.request.header("range") {
            switch ByteRange.parse(header, size: size) {
            case .whole: break
            case .range(let parsed): range = parsed
            case .unsatisfiable:
                var error = S3Error("InvalidRange", "The requested range is not satisfiable", status: .rangeNotSatisfiable)
                error.details["ActualObjectSize"] = String(size)
                error.details["RangeRequested"] = header
                throw error
            }
        }
        if range == nil, call.request.header("x-amz-checksum-mode")?.uppercased() == "ENABLED",
           let algorithm = info.checksumAlgorithm, let value = info.checksumValue {
            headers[.init("x-amz-checksum-\(algorithm.lowercased())")!] = value
            headers[.init("x-amz-checksum-type")!] = "FULL_OBJECT"
        }
        let status: HTTPResponse.Status
        let bytes: ClosedRange<Int64>?
        if let range {
            status = .partialContent
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
            bytes = range
        } else {
            status = .ok
            bytes = size == 0 ? nil : 0...(size - 1)
        }
        let length = bytes.map { $0.upperBound - $0.lowerBound + 1 } ?? 0
        headers[.contentLength] = String(length)
        guard includeBody, let bytes else { return Response(status: status, headers: headers) }
        // The first segment is read before the head is sent (a cross-border read's bytes are counted under its
        // grant first); the rest streams.
        let read = try await object.read(bytes)
        guard !read.isComplete else {
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: read.first))
        }
        let body = ResponseBody(contentLength: Int(length)) { writer in
            try await read.all { slice in try await writer.write(slice) }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }
}

extension GetHandler {
    /// The byte range of part `text` of a multipart object (served as 206). A single-PUT object has one part, the
    /// whole object: nil, served as a plain 200, as S3 does.
    static func partRange(_ text: String, _ info: ObjectInfo) throws -> ClosedRange<Int64>? {
        guard let number = Int(text), (1...Limits.partNumberMax).contains(number) else {
            throw S3Error.invalidArgument("Part number must be an integer between 1 and \(Limits.partNumberMax), inclusive")
        }
        if info.parts.isEmpty {
            guard number == 1 else { throw ObjectServiceError.invalidPartNumber(number) }
            return nil
        }
        guard number <= info.parts.count else { throw ObjectServiceError.invalidPartNumber(number) }
        let part = info.parts[number - 1]
        guard part.sizeBytes > 0 else { return nil }
        return part.offset...(part.offset + part.sizeBytes - 1)
    }
}

/// A parsed `Range` header against an object size.
enum ByteRange: Equatable {
    /// No usable range: serve the whole object (invalid syntax and multiple ranges are ignored, as S3 does).
    case whole
    case range(ClosedRange<Int64>)
    case unsatisfiable

    static func parse(_ header: String, size: Int64) -> ByteRange {
        guard header.hasPrefix("bytes=") else { return .whole }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash], second = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int64(second), suffix >= 0 else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .range(max(0, size - suffix)...(size - 1))
        }
        guard let start = Int64(first), start >= 0 else { return .whole }
        let end: Int64
        if second.isEmpty {
            end = size - 1
        } else {
            guard let parsed = Int64(second), parsed >= start else { return .whole }
            end = min(parsed, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .range(start...end)
    }
}
