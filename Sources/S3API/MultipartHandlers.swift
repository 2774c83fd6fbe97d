import Foundation
import HTTPTypes
import Hashing
import Hummingbird
import NIOCore
import ObjectModel
import ObjectService

/// CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload, ListParts,
/// ListMultipartUploads. An object is visible only once complete; aborting drops every stored part.
enum MultipartHandlers {
    /// The upload id the request names (the service answers `NoSuchUpload` for one it does not know).
    static func uploadID(_ call: S3Call) -> String { call.request.query("uploadId") ?? "" }

    /// The part number of an UploadPart(Copy).
    static func partNumber(_ call: S3Call) throws -> Int {
        guard let text = call.request.query("partNumber"), let number = Int(text),
              (1...Limits.partNumberMax).contains(number) else {
            throw S3Error.invalidArgument("Part number must be an integer between 1 and \(Limits.partNumberMax), inclusive")
        }
        return number
    }

    static func create(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let metadata = try ObjectHeaders.metadata(from: call.request)
        var algorithm: ChecksumAlgorithm?
        if let name = call.request.header("x-amz-checksum-algorithm") {
            guard let parsed = ChecksumAlgorithm(name: name) else {
                throw S3Error.invalidRequest("Checksum algorithm \(name) is not supported")
            }
            algorithm = parsed
        }
        let upload = try await call.service.createUpload(call.principal, call.bucketName, key, metadata: metadata,
                                                         checksumAlgorithm: algorithm,
                                                         lock: try ObjectHeaders.lock(from: call.request))
        var xml = XMLWriter()
        xml.element("InitiateMultipartUploadResult") { xml in
            xml.element("Bucket", call.bucketName)
            xml.element("Key", key)
            xml.element("UploadId", upload)
        }
        var response = call.xml(xml.document)
        if let algorithm { response.headers[.init("x-amz-checksum-algorithm")!] = algorithm.rawValue }
        return response
    }

    static func uploadPart(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let number = try partNumber(call)
        let writer = try await call.service.partWriter(call.principal, call.bucketName, key, uploadID: uploadID(call),
                                                       partNumber: number, expectations: try call.body.expectations())
        let written = try await call.body.upload(into: writer)
        var headers = call.headers()
        headers[.eTag] = "\"\(written.etag)\""
        if let name = written.checksumAlgorithm, let value = written.checksumValue {
            headers[.init("x-amz-checksum-\(name.lowercased())")!] = value
        }
        return Response(status: .ok, headers: headers)
    }

    static func complete(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        // The part list is verified against the signature before it is believed.
        let body = try await call.body.collect(limit: Limits.xmlBodyBytesMax)
        let written = try await call.service.completeUpload(call.principal, call.bucketName, key,
                                                            uploadID: uploadID(call), parts: try parseCompletion(body),
                                                            condition: try Conditions.write(call.request))
        var xml = XMLWriter()
        xml.element("CompleteMultipartUploadResult") { xml in
            xml.element("Location", "/\(call.bucketName)/\(key)")
            xml.element("Bucket", call.bucketName)
            xml.element("Key", key)
            xml.element("ETag", "\"\(written.etag)\"")
            if let algorithm = written.checksumAlgorithm, let value = written.checksumValue {
                xml.element("Checksum\(algorithm)", value)
                xml.element("ChecksumType", "COMPOSITE")
            }
        }
        var response = call.xml(xml.document)
        if let version = written.versionID { response.headers[.init("x-amz-version-id")!] = version }
        return response
    }

    /// The parts of a CompleteMultipartUpload body; malformed XML or an empty list is `MalformedXML`.
    static func parseCompletion(_ bytes: [UInt8]) throws -> [CompletedPart] {
        let root: XMLElement
        do { root = try XMLDocumentParser.parse(bytes) } catch { throw S3Error.malformedXML() }
        guard root.name == "CompleteMultipartUpload" else { throw S3Error.malformedXML() }
        let elements = root.children("Part")
        guard !elements.isEmpty, elements.count <= Limits.partNumberMax else { throw S3Error.malformedXML() }
        return try elements.map { element in
            guard let numberText = element.child("PartNumber")?.text, let number = Int(numberText.trimmingSpaces),
                  let etag = element.child("ETag")?.text else { throw S3Error.malformedXML() }
            // The part's checksums, by algorithm (the service checks the upload's own).
            var checksums = [String: String]()
            for algorithm in ChecksumAlgorithm.allCases {
                if let value = element.child("Checksum\(algorithm.rawValue)")?.text { checksums[algorithm.rawValue] = value }
            }
            return CompletedPart(number: number, etag: String(etag.trimmingSpaces), checksums: checksums)
        }
    }

    static func abort(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        try await call.service.abortUpload(call.principal, call.bucketName, key, uploadID: uploadID(call))
        return Response(status: .noContent, headers: call.headers())
    }

    static func listParts(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let marker = try call.request.query("part-number-marker").map { text -> Int in
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("invalid part-number-marker") }
            return value
        } ?? 0
        let limit = try call.request.query("max-parts").map { text -> Int in
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("invalid max-parts") }
            return min(value, Limits.listKeysMax)
        } ?? Limits.listKeysMax
        let page = try await call.service.listParts(call.principal, call.bucketName, key, uploadID: uploadID(call),
                                                    after: marker, limit: limit)
        var xml = XMLWriter()
        xml.element("ListPartsResult") { xml in
            xml.element("Bucket", call.bucketName)
            xml.element("Key", key)
            xml.element("UploadId", uploadID(call))
            xml.element("Initiator") { xml in xml.element("ID", call.tenant); xml.element("DisplayName", call.tenant) }
            xml.element("Owner") { xml in xml.element("ID", call.tenant); xml.element("DisplayName", call.tenant) }
            xml.element("StorageClass", "STANDARD")
            xml.element("PartNumberMarker", String(marker))
            if let last = page.parts.last { xml.element("NextPartNumberMarker", String(last.number)) }
            xml.element("MaxParts", String(limit))
            xml.element("IsTruncated", page.isTruncated ? "true" : "false")
            if let algorithm = page.checksumAlgorithm { xml.element("ChecksumAlgorithm", algorithm) }
            for part in page.parts {
                xml.element("Part") { xml in
                    xml.element("PartNumber", String(part.number))
                    xml.element("LastModified", Timestamps.iso8601(millis: part.lastModifiedMillis))
                    xml.element("ETag", "\"\(part.etag)\"")
                    xml.element("Size", String(part.sizeBytes))
                    if let algorithm = page.checksumAlgorithm, let value = part.checksumValue {
                        xml.element("Checksum\(algorithm)", value)
                    }
                }
            }
        }
        return call.xml(xml.document)
    }

    static func listUploads(_ call: S3Call) async throws -> Response {
        let options = try ListHandlers.common(call)
        let limit = try call.request.query("max-uploads").map { text -> Int in
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("invalid max-uploads") }
            return min(value, Limits.listKeysMax)
        } ?? Limits.listKeysMax
        let keyMarker = call.request.query("key-marker").flatMap { $0.isEmpty ? nil : $0 }
        let uploadMarker = call.request.query("upload-id-marker").flatMap { $0.isEmpty ? nil : $0 }
        let page = try await call.service.listUploads(call.principal, call.bucketName, prefix: options.prefix,
                                                      delimiter: options.delimiter, keyMarker: keyMarker,
                                                      uploadMarker: uploadMarker, limit: limit)
        var xml = XMLWriter()
        xml.element("ListMultipartUploadsResult") { xml in
            xml.element("Bucket", call.bucketName)
            xml.element("KeyMarker", ListHandlers.encode(keyMarker ?? "", options.urlEncode))
            xml.element("UploadIdMarker", uploadMarker ?? "")
            if page.isTruncated, let next = page.nextKeyMarker {
                xml.element("NextKeyMarker", ListHandlers.encode(next, options.urlEncode))
                xml.element("NextUploadIdMarker", page.nextUploadMarker ?? "")
            }
            xml.element("Prefix", ListHandlers.encode(options.prefix, options.urlEncode))
            if let delimiter = options.delimiter { xml.element("Delimiter", delimiter) }
            xml.element("MaxUploads", String(limit))
            if options.urlEncode { xml.element("EncodingType", "url") }
            xml.element("IsTruncated", page.isTruncated ? "true" : "false")
            for upload in page.uploads {
                xml.element("Upload") { xml in
                    xml.element("Key", ListHandlers.encode(upload.key, options.urlEncode))
                    xml.element("UploadId", upload.uploadID)
                    xml.element("Initiator") { xml in xml.element("ID", call.tenant); xml.element("DisplayName", call.tenant) }
                    xml.element("Owner") { xml in xml.element("ID", call.tenant); xml.element("DisplayName", call.tenant) }
                    xml.element("StorageClass", "STANDARD")
                    xml.element("Initiated", Timestamps.iso8601(millis: upload.initiatedMillis))
                    if let algorithm = upload.checksumAlgorithm { xml.element("ChecksumAlgorithm", algorithm) }
                }
            }
            for prefix in page.commonPrefixes {
                xml.element("CommonPrefixes") { xml in xml.element("Prefix", ListHandlers.encode(prefix, options.urlEncode)) }
            }
        }
        return call.xml(xml.document)
    }
}
