import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ObjectModel
import ObjectService
import StorageNode

/// GetObject and HeadObject: one located version, a single range at most, streamed segment by segment.
enum GetHandler {
    static let responseOverrides: [(query: String, header: HTTPField.Name)] = [
        ("response-content-type", .contentType), ("response-content-language", .contentLanguage),
        ("response-expires", .expires), ("response-cache-control", .cacheControl),
        ("response-content-disposition", .contentDisposition), ("response-content-encoding", .contentEncoding),
    ]

    static func getObject(_ call: S3Call, includeBody: Bool) async throws -> Response {
        let key = try call.objectKey()
        let record = try call.service.bucket(call.bucketName, tenant: call.tenant)
        if let version = call.request.query("versionId"), version != "null" {
            throw S3Error.invalidArgument("Invalid version id specified")
        }
        guard let found = try await call.service.store.locate(record.jurisdiction, bucket: record.name, key: key) else {
            throw ObjectServiceError.noSuchKey(bucket: record.name, key: key)
        }
        try Conditions.read(call.request, found.manifest)
        let located = try await call.service.store.opened(found, jurisdiction: record.jurisdiction, tenant: record.tenant,
                                                          operation: includeBody ? "GetObject" : "HeadObject",
                                                          gateway: call.gateway, grantID: call.grantID)
        let manifest = located.manifest
        var headers = call.headers()
        headers[.eTag] = "\"\(manifest.etag)\""
        headers[.lastModified] = Timestamps.httpDate(manifest.lastModifiedMillis / 1000)
        headers[.acceptRanges] = "bytes"
        headers[.contentType] = manifest.metadata.contentType ?? "binary/octet-stream"
        if let value = manifest.metadata.cacheControl { headers[.cacheControl] = value }
        if let value = manifest.metadata.contentDisposition { headers[.contentDisposition] = value }
        if let value = manifest.metadata.contentEncoding { headers[.contentEncoding] = value }
        if let value = manifest.metadata.contentLanguage { headers[.contentLanguage] = value }
        if let value = manifest.metadata.expires { headers[.expires] = value }
        for (name, value) in manifest.metadata.user {
            if let field = HTTPField.Name("x-amz-meta-" + name) { headers[field] = value }
        }
        for override in responseOverrides {
            if let value = call.request.query(override.query) { headers[override.header] = value }
        }
        let size = manifest.sizeBytes
        var range: ClosedRange<Int64>?
        if let text = call.request.query("partNumber") {
            range = try partRange(text, manifest)
            if !manifest.parts.isEmpty { headers[.init("x-amz-mp-parts-count")!] = String(manifest.parts.count) }
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
           let algorithm = manifest.checksumAlgorithm, let value = manifest.checksumValue {
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
        // Bytes served under a grant count against its byte limit, before they are sent.
        if includeBody, let crossing = call.crossing { try await call.gate.charge(bytes: length, to: crossing) }
        guard includeBody, let bytes else { return Response(status: status, headers: headers) }
        let store = call.service.store
        let jurisdiction = record.jurisdiction
        // The first segment is read before the head is sent (see ObjectStore.readFirstSegment); the rest streams.
        let first = try await store.readFirstSegment(located, jurisdiction: jurisdiction, of: bytes)
        let next = bytes.lowerBound + Int64(first.readableBytes)
        guard next <= bytes.upperBound else {
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: first))
        }
        let body = ResponseBody(contentLength: Int(length)) { writer in
            try await writer.write(first)
            try await store.read(located, jurisdiction: jurisdiction, range: next...bytes.upperBound) { slice in
                try await writer.write(slice)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }
}

extension GetHandler {
    /// The byte range of part `text` of a multipart object (served as 206). A single-PUT object has one part, the
    /// whole object: nil, served as a plain 200, as S3 does.
    static func partRange(_ text: String, _ manifest: ObjectManifest) throws -> ClosedRange<Int64>? {
        guard let number = Int(text), (1...Limits.partNumberMax).contains(number) else {
            throw S3Error.invalidArgument("Part number must be an integer between 1 and \(Limits.partNumberMax), inclusive")
        }
        if manifest.parts.isEmpty {
            guard number == 1 else { throw ObjectServiceError.invalidPartNumber(number) }
            return nil
        }
        guard number <= manifest.parts.count else { throw ObjectServiceError.invalidPartNumber(number) }
        let extent = manifest.extents[number - 1]
        guard extent.sizeBytes > 0 else { return nil }
        return extent.offset...(extent.offset + extent.sizeBytes - 1)
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
