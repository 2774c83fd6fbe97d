import Foundation
import HTTPTypes
import Hashing
import Hummingbird
import ObjectModel
import ObjectService
import SigV4

/// CopyObject and UploadPartCopy: the source is named by `x-amz-copy-source`; the service reads it through the same
/// door as a GET and writes the copy like an upload. Both ends must be in the same jurisdiction.
enum CopyHandler {
    /// The source named by `x-amz-copy-source`, with its `x-amz-copy-source-if-*` conditions.
    static func source(_ call: S3Call) throws -> CopySource {
        guard let raw = call.request.header("x-amz-copy-source") else {
            throw S3Error.invalidArgument("x-amz-copy-source is required")
        }
        var text = raw
        var versionID: String?
        if let question = raw.firstIndex(of: "?") {
            text = String(raw[..<question])
            // `versionId` among the source's query parameters, percent-decoded; a source naming another parameter
            // is refused rather than copied from the latest version.
            for parameter in raw[raw.index(after: question)...].split(separator: "&") {
                let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard pair.count == 2, pair[0] == "versionId", let value = URIEncoding.decodeString(String(pair[1])) else {
                    throw S3Error.invalidArgument("Invalid copy source: only versionId may follow the key")
                }
                versionID = value
            }
        }
        guard let decoded = URIEncoding.decodeString(text.hasPrefix("/") ? String(text.dropFirst()) : text),
              let slash = decoded.firstIndex(of: "/") else {
            throw S3Error.invalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
        }
        return CopySource(bucket: String(decoded[..<slash]), key: String(decoded[decoded.index(after: slash)...]),
                          conditions: Conditions.copySource(call.request), versionID: versionID)
    }

    static func copyObject(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let directive: MetadataDirective
        switch call.request.header("x-amz-metadata-directive")?.uppercased() ?? "COPY" {
        case "COPY": directive = .copy
        case "REPLACE": directive = .replace(try ObjectHeaders.metadata(from: call.request))
        default: throw S3Error.invalidArgument("Unknown metadata directive.")
        }
        var algorithm: ChecksumAlgorithm?
        if let name = call.request.header("x-amz-checksum-algorithm") {
            guard let parsed = ChecksumAlgorithm(name: name) else {
                throw S3Error.invalidRequest("Checksum algorithm \(name) is not supported")
            }
            algorithm = parsed
        }
        // Tags follow their own directive: the source's (COPY, the default) or the request's `x-amz-tagging`.
        var tags: [(String, String)]?
        switch call.request.header("x-amz-tagging-directive")?.uppercased() ?? "COPY" {
        case "COPY": tags = nil
        case "REPLACE":
            tags = try TaggingHandlers.headerTags(call.request.header("x-amz-tagging") ?? "")
            if let problem = ObjectTags.problem(tags!) { throw ObjectServiceError.invalidTag(problem) }
        default: throw S3Error.invalidArgument("Unknown tagging directive.")
        }
        let written = try await call.service.copyObject(call.principal, from: try source(call), to: call.bucketName, key,
                                                        metadata: directive, tags: tags,
                                                        condition: try Conditions.write(call.request),
                                                        checksumAlgorithm: algorithm,
                                                        lock: try ObjectHeaders.lock(from: call.request))
        return copyResult(call, "CopyObjectResult", written)
    }

    static func uploadPartCopy(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let number = try MultipartHandlers.partNumber(call)
        let header = call.request.header("x-amz-copy-source-range")
        let written = try await call.service.copyPart(
            call.principal, from: try source(call), to: call.bucketName, key,
            uploadID: call.request.query("uploadId") ?? "", partNumber: number) { size in
                guard let header else { return nil }
                return try copySourceRange(header, size: size)
            }
        return copyResult(call, "CopyPartResult", written)
    }

    /// `x-amz-copy-source-range`: `bytes=first-last`, both zero-based and inclusive; a range the source does not
    /// hold is `InvalidRange` (400), as S3 answers.
    static func copySourceRange(_ header: String, size: Int64) throws -> ClosedRange<Int64> {
        let bounds = header.hasPrefix("bytes=") ? header.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
            : []
        guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]), first >= 0, first <= last
        else {
            throw S3Error.invalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last "
                + "where first and last are the zero-based offsets of the first and last bytes to copy")
        }
        guard last < size else {
            throw S3Error("InvalidRange", "The requested range is not satisfiable", status: .badRequest)
        }
        return first...last
    }

    /// The XML answer of a copy: `CopyObjectResult` or `CopyPartResult`.
    private static func copyResult(_ call: S3Call, _ root: String, _ written: WrittenObject) -> Response {
        var xml = XMLWriter()
        xml.element(root) { xml in
            xml.element("LastModified", Timestamps.iso8601(millis: written.lastModifiedMillis))
            xml.element("ETag", "\"\(written.etag)\"")
            if let algorithm = written.checksumAlgorithm, let checksum = written.checksumValue {
                xml.element("Checksum\(algorithm)", checksum)
            }
        }
        var response = call.xml(xml.document)
        if let version = written.versionID { response.headers[.init("x-amz-version-id")!] = version }
        if let version = written.sourceVersionID { response.headers[.init("x-amz-copy-source-version-id")!] = version }
        return response
    }
}
