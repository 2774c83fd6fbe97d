import Sovereignty
import Foundation
import HTTPTypes
import Hummingbird
import Hashing
import ObjectModel
import ObjectService
import SigV4
import StorageNode

/// CopyObject and UploadPartCopy: the source is read segment by segment and written through a fresh writer, so
/// the copy is hashed and stored like any upload. Both ends must be in the same jurisdiction.
enum CopyHandler {
    /// The located source object of `x-amz-copy-source`, after ownership, jurisdiction and condition checks, and
    /// the crossing that let it be read through this gateway, if it is in another jurisdiction.
    static func source(_ call: S3Call, destination: BucketRecord) async throws
        -> (BucketRecord, ObjectStore.Located, SovereigntyGate.Crossing?)
    {
        guard let raw = call.request.header("x-amz-copy-source") else {
            throw S3Error.invalidArgument("x-amz-copy-source is required")
        }
        var text = raw
        var versionID: String?
        if let question = raw.firstIndex(of: "?") {
            text = String(raw[..<question])
            let query = raw[raw.index(after: question)...]
            if query.hasPrefix("versionId=") { versionID = String(query.dropFirst("versionId=".count)) }
        }
        guard let decoded = URIEncoding.decodeString(text.hasPrefix("/") ? String(text.dropFirst()) : text),
              let slash = decoded.firstIndex(of: "/") else {
            throw S3Error.invalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
        }
        let bucketName = String(decoded[..<slash]), key = String(decoded[decoded.index(after: slash)...])
        if let versionID, versionID != "null" { throw S3Error.invalidArgument("Invalid version id specified") }
        if let problem = ObjectKey.problem(key) { throw S3Error.invalidArgument(problem) }
        let bucket = try call.service.bucket(bucketName, tenant: call.tenant)
        guard bucket.jurisdiction == destination.jurisdiction else {
            throw ObjectServiceError.crossJurisdiction(from: bucket.jurisdiction, to: destination.jurisdiction)
        }
        // Reading the source through a gateway of another jurisdiction crosses a border like a GET.
        let operation: ReadOperation = call.request.operation == .uploadPartCopy ? .uploadPartCopySource : .copySource
        let crossing = try await call.gate.check(
            SovereigntyRequest(kind: .read(operation), tenant: bucket.tenant, bucket: bucketName, key: key,
                               gateway: call.gateway),
            bucketJurisdiction: bucket.jurisdiction, requestID: call.requestID, requester: call.tenant)
        guard let located = try await call.service.store.locate(bucket.jurisdiction, bucket: bucket.name, key: key) else {
            throw ObjectServiceError.noSuchKey(bucket: bucket.name, key: key)
        }
        try Conditions.copySource(call.request, located.manifest)
        return (bucket, try await call.service.store.opened(located, jurisdiction: bucket.jurisdiction,
                                                            tenant: bucket.tenant, operation: operation.rawValue,
                                                            gateway: call.gateway, grantID: crossing?.grantID),
                crossing)
    }

    static func copyObject(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let destination = try call.service.bucket(call.bucketName, tenant: call.tenant)
        let (sourceBucket, located, crossing) = try await source(call, destination: destination)
        let directive = call.request.header("x-amz-metadata-directive")?.uppercased() ?? "COPY"
        guard directive == "COPY" || directive == "REPLACE" else {
            throw S3Error.invalidArgument("Unknown metadata directive.")
        }
        let metadata = directive == "REPLACE" ? try ObjectHeaders.metadata(from: call.request) : located.manifest.metadata
        if sourceBucket.name == destination.name, located.manifest.key == key, directive == "COPY" {
            throw S3Error.invalidRequest("This copy request is illegal because it is trying to copy an object to "
                + "itself without changing the object's metadata, storage class, website redirect location or "
                + "encryption attributes.")
        }
        var expectations = PayloadExpectations(sizeBytes: located.manifest.sizeBytes)
        if let name = call.request.header("x-amz-checksum-algorithm") ?? located.manifest.checksumAlgorithm {
            guard let algorithm = ChecksumAlgorithm(name: name) else {
                throw S3Error.invalidRequest("Checksum algorithm \(name) is not supported")
            }
            expectations.checksumAlgorithm = algorithm
        }
        let writer = try await call.service.store.writer(destination.jurisdiction, tenant: destination.tenant,
                                                         bucket: destination.name, key: key,
                                                         metadata: metadata, condition: try Conditions.write(call.request),
                                                         expectations: expectations, gateway: call.gateway,
                                                         operation: "CopyObject")
        let result = try await copy(call, located, range: nil, into: writer, jurisdiction: sourceBucket.jurisdiction,
                                crossing: crossing)
        guard case .object(let manifest) = result else { preconditionFailure("object writer returned a part") }
        return copyResult(call, "CopyObjectResult", lastModifiedMillis: manifest.lastModifiedMillis, etag: manifest.etag,
                          algorithm: manifest.checksumAlgorithm, checksum: manifest.checksumValue)
    }

    static func uploadPartCopy(_ call: S3Call) async throws -> Response {
        let destination = try call.service.bucket(call.bucketName, tenant: call.tenant)
        let (template, number) = try await MultipartHandlers.uploadTarget(call, bucket: destination)
        let (sourceBucket, located, crossing) = try await source(call, destination: destination)
        var range: ClosedRange<Int64>?
        if let header = call.request.header("x-amz-copy-source-range") {
            guard case .range(let parsed) = ByteRange.parse(header, size: located.manifest.sizeBytes),
                  header.hasPrefix("bytes="), !header.dropFirst(6).hasPrefix("-"), !header.hasSuffix("-") else {
                throw S3Error.invalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last "
                    + "where first and last are the zero-based offsets of the first and last bytes to copy")
            }
            range = parsed
        }
        let size = range.map { $0.upperBound - $0.lowerBound + 1 } ?? located.manifest.sizeBytes
        let writer = try await call.service.store.partWriter(destination.jurisdiction, tenant: destination.tenant,
                                                             template: template, number: number,
                                                             expectations: PayloadExpectations(sizeBytes: size),
                                                             gateway: call.gateway)
        let result = try await copy(call, located, range: range, into: writer, jurisdiction: sourceBucket.jurisdiction,
                                crossing: crossing)
        guard case .part(let record) = result else { preconditionFailure("part writer returned an object") }
        return copyResult(call, "CopyPartResult", lastModifiedMillis: record.lastModifiedMillis, etag: record.part.etag,
                          algorithm: template.checksumAlgorithm, checksum: record.part.checksumValue)
    }

    /// The XML answer of a copy: `CopyObjectResult` or `CopyPartResult`.
    private static func copyResult(_ call: S3Call, _ root: String, lastModifiedMillis: Int64, etag: String,
                                   algorithm: String?, checksum: String?) -> Response {
        var xml = XMLWriter()
        xml.element(root) { xml in
            xml.element("LastModified", Timestamps.iso8601(millis: lastModifiedMillis))
            xml.element("ETag", "\"\(etag)\"")
            if let algorithm, let checksum { xml.element("Checksum\(algorithm)", checksum) }
        }
        return call.xml(xml.document)
    }

    /// Reads `range` of the source (all of it when nil) into `writer` and finishes it; bytes read across a border
    /// count against the grant's byte limit first.
    private static func copy(_ call: S3Call, _ located: ObjectStore.Located, range: ClosedRange<Int64>?,
                             into writer: ObjectWriter, jurisdiction: Jurisdiction,
                             crossing: SovereigntyGate.Crossing?) async throws -> WriteResult {
        do {
            let size = located.manifest.sizeBytes
            if let bytes = range ?? (size > 0 ? 0...(size - 1) : nil) {
                if let crossing { try await call.gate.charge(bytes: Int64(bytes.count), to: crossing) }
                try await call.service.store.read(located, jurisdiction: jurisdiction, range: bytes) { slice in
                    try slice.withUnsafeReadableBytes { try writer.append($0) }
                    try await writer.flush()
                }
            }
            return try await writer.finish()
        } catch {
            await writer.abort()
            throw error
        }
    }
}
