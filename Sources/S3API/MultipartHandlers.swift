import Foundation
import HTTPTypes
import Hashing
import Hummingbird
import NIOCore
import ObjectModel
import ObjectService
import StorageNode

/// CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload, ListParts,
/// ListMultipartUploads. An object is visible only once complete; aborting drops every stored part.
enum MultipartHandlers {
    /// Parses an upload id (hex of 16 bytes).
    static func uploadID(_ call: S3Call) throws -> VersionID {
        guard let text = call.request.query("uploadId"), let bytes = Hex.decode(text), let id = VersionID(bytes: bytes)
        else { throw ObjectServiceError.noSuchUpload(call.request.query("uploadId") ?? "") }
        return id
    }

    /// The upload and part number an UploadPart(Copy) addresses.
    static func uploadTarget(_ call: S3Call, bucket: BucketRecord) async throws -> (ObjectManifest, Int) {
        let key = try call.objectKey()
        guard let text = call.request.query("partNumber"), let number = Int(text),
              (1...Limits.partNumberMax).contains(number) else {
            throw S3Error.invalidArgument("Part number must be an integer between 1 and \(Limits.partNumberMax), inclusive")
        }
        let template = try await call.service.store.upload(bucket.jurisdiction, bucket: bucket.name, key: key,
                                                           upload: try uploadID(call))
        return (template, number)
    }

    static func create(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let record = try call.service.bucket(call.bucketName, tenant: call.tenant)
        let metadata = try ObjectHeaders.metadata(from: call.request)
        var algorithm: ChecksumAlgorithm?
        if let name = call.request.header("x-amz-checksum-algorithm") {
            guard let parsed = ChecksumAlgorithm(name: name) else {
                throw S3Error.invalidRequest("Checksum algorithm \(name) is not supported")
            }
            algorithm = parsed
        }
        let upload = try await call.service.store.createUpload(record.jurisdiction, tenant: record.tenant,
                                                               bucket: record.name, key: key,
                                                               metadata: metadata, checksumAlgorithm: algorithm,
                                                               gateway: call.gateway)
        var xml = XMLWriter()
        xml.element("InitiateMultipartUploadResult") { xml in
            xml.element("Bucket", record.name)
            xml.element("Key", key)
            xml.element("UploadId", upload.description)
        }
        var response = call.xml(xml.document)
        if let algorithm { response.headers[.init("x-amz-checksum-algorithm")!] = algorithm.rawValue }
        return response
    }

    static func uploadPart(_ call: S3Call) async throws -> Response {
        let record = try call.service.bucket(call.bucketName, tenant: call.tenant)
        let (template, number) = try await uploadTarget(call, bucket: record)
        let expectations = try PutHandler.expectations(call)
        let writer = try await call.service.store.partWriter(record.jurisdiction, tenant: record.tenant,
                                                             template: template, number: number,
                                                             expectations: expectations, gateway: call.gateway)
        let result = try await PutHandler.stream(call, into: writer, expectations: expectations)
        var headers = call.headers()
        headers[.eTag] = "\"\(result.etag)\""
        if let name = template.checksumAlgorithm ?? expectations.checksumAlgorithm?.rawValue,
           let value = result.checksumValue {
            headers[.init("x-amz-checksum-\(name.lowercased())")!] = value
        }
        return Response(status: .ok, headers: headers)
    }

    static func complete(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let record = try call.service.bucket(call.bucketName, tenant: call.tenant)
        let template = try await call.service.store.upload(record.jurisdiction, bucket: record.name, key: key,
                                                           upload: try uploadID(call))
        let body = try await call.body.collect(upTo: Limits.xmlBodyBytesMax)
        let parts = try parseCompletion(Array(body.readableBytesView), algorithm: template.checksumAlgorithm)
        let manifest = try await call.service.store.completeUpload(record.jurisdiction, tenant: record.tenant,
                                                                   template: template, parts: parts,
                                                                   condition: try Conditions.write(call.request),
                                                                   gateway: call.gateway)
        var xml = XMLWriter()
        xml.element("CompleteMultipartUploadResult") { xml in
            xml.element("Location", "/\(record.name)/\(key)")
            xml.element("Bucket", record.name)
            xml.element("Key", key)
            xml.element("ETag", "\"\(manifest.etag)\"")
            if let algorithm = manifest.checksumAlgorithm, let value = manifest.checksumValue {
                xml.element("Checksum\(algorithm)", value)
                xml.element("ChecksumType", "COMPOSITE")
            }
        }
        return call.xml(xml.document)
    }

    /// The parts of a CompleteMultipartUpload body; malformed XML or an empty list is `MalformedXML`.
    static func parseCompletion(_ bytes: [UInt8], algorithm: String?) throws -> [CompletedPart] {
        let root: XMLElement
        do { root = try XMLDocumentParser.parse(bytes) } catch { throw S3Error.malformedXML() }
        guard root.name == "CompleteMultipartUpload" else { throw S3Error.malformedXML() }
        let elements = root.children("Part")
        guard !elements.isEmpty, elements.count <= Limits.partNumberMax else { throw S3Error.malformedXML() }
        return try elements.map { element in
            guard let numberText = element.child("PartNumber")?.text, let number = Int(numberText.trimmingSpaces),
                  let etag = element.child("ETag")?.text else { throw S3Error.malformedXML() }
            let checksum = algorithm.flatMap { element.child("Checksum\($0)")?.text }
            return CompletedPart(number: number, etag: String(etag.trimmingSpaces), checksumValue: checksum)
        }
    }

    static func abort(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let record = try call.service.bucket(call.bucketName, tenant: call.tenant)
        let upload = try uploadID(call)
        _ = try await call.service.store.upload(record.jurisdiction, bucket: record.name, key: key, upload: upload)
        try await call.service.store.abortUpload(record.jurisdiction, bucket: record.name, key: key, upload: upload)
        return Response(status: .noContent, headers: call.headers())
    }

    static func listParts(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let record = try call.service.bucket(call.bucketName, tenant: call.tenant)
        let template = try await call.service.store.upload(record.jurisdiction, bucket: record.name, key: key,
                                                           upload: try uploadID(call))
        let marker = try call.request.query("part-number-marker").map { text -> Int in
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("invalid part-number-marker") }
            return value
        } ?? 0
        let limit = try call.request.query("max-parts").map { text -> Int in
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("invalid max-parts") }
            return min(value, Limits.listKeysMax)
        } ?? Limits.listKeysMax
        let (parts, truncated) = try await call.service.store.listParts(record.jurisdiction, upload: template.versionID,
                                                                        after: marker, limit: limit)
        var xml = XMLWriter()
        xml.element("ListPartsResult") { xml in
            xml.element("Bucket", record.name)
            xml.element("Key", key)
            xml.element("UploadId", template.versionID.description)
            xml.element("Initiator") { xml in xml.element("ID", call.tenant); xml.element("DisplayName", call.tenant) }
            xml.element("Owner") { xml in xml.element("ID", call.tenant); xml.element("DisplayName", call.tenant) }
            xml.element("StorageClass", "STANDARD")
            xml.element("PartNumberMarker", String(marker))
            if let last = parts.last { xml.element("NextPartNumberMarker", String(last.part.number)) }
            xml.element("MaxParts", String(limit))
            xml.element("IsTruncated", truncated ? "true" : "false")
            if let algorithm = template.checksumAlgorithm { xml.element("ChecksumAlgorithm", algorithm) }
            for part in parts {
                xml.element("Part") { xml in
                    xml.element("PartNumber", String(part.part.number))
                    xml.element("LastModified", Timestamps.iso8601(millis: part.lastModifiedMillis))
                    xml.element("ETag", "\"\(part.part.etag)\"")
                    xml.element("Size", String(part.part.sizeBytes))
                    if let algorithm = template.checksumAlgorithm, let value = part.part.checksumValue {
                        xml.element("Checksum\(algorithm)", value)
                    }
                }
            }
        }
        return call.xml(xml.document)
    }

    static func listUploads(_ call: S3Call) async throws -> Response {
        let record = try call.service.bucket(call.bucketName, tenant: call.tenant)
        let options = try ListHandlers.common(call)
        let limit = try call.request.query("max-uploads").map { text -> Int in
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("invalid max-uploads") }
            return min(value, Limits.listKeysMax)
        } ?? Limits.listKeysMax
        let keyMarker = call.request.query("key-marker").flatMap { $0.isEmpty ? nil : $0 }
        let uploadMarker = call.request.query("upload-id-marker").flatMap { $0.isEmpty ? nil : $0 }
        let page = try await call.service.store.listUploads(record.jurisdiction, bucket: record.name,
                                                            prefix: options.prefix, delimiter: options.delimiter,
                                                            keyMarker: keyMarker, uploadMarker: uploadMarker,
                                                            limit: limit)
        var xml = XMLWriter()
        xml.element("ListMultipartUploadsResult") { xml in
            xml.element("Bucket", record.name)
            xml.element("KeyMarker", ListHandlers.encode(keyMarker ?? "", options.urlEncode))
            xml.element("UploadIdMarker", uploadMarker ?? "")
            if page.isTruncated, let last = page.uploads.last {
                xml.element("NextKeyMarker", ListHandlers.encode(last.key, options.urlEncode))
                xml.element("NextUploadIdMarker", last.versionID.description)
            }
            xml.element("Prefix", ListHandlers.encode(options.prefix, options.urlEncode))
            if let delimiter = options.delimiter { xml.element("Delimiter", delimiter) }
            xml.element("MaxUploads", String(limit))
            if options.urlEncode { xml.element("EncodingType", "url") }
            xml.element("IsTruncated", page.isTruncated ? "true" : "false")
            for upload in page.uploads {
                xml.element("Upload") { xml in
                    xml.element("Key", ListHandlers.encode(upload.key, options.urlEncode))
                    xml.element("UploadId", upload.versionID.description)
                    xml.element("Initiator") { xml in xml.element("ID", call.tenant); xml.element("DisplayName", call.tenant) }
                    xml.element("Owner") { xml in xml.element("ID", call.tenant); xml.element("DisplayName", call.tenant) }
                    xml.element("StorageClass", "STANDARD")
                    xml.element("Initiated", Timestamps.iso8601(millis: upload.lastModifiedMillis))
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
