import HTTPTypes
import Hummingbird
import ObjectModel
import ObjectService
import SigV4

/// PutObjectTagging, GetObjectTagging, DeleteObjectTagging, and GetObjectAttributes; the `x-amz-tagging` header's
/// parsing for the writes that carry it (PutObject, CopyObject with `x-amz-tagging-directive: REPLACE`,
/// CreateMultipartUpload).
enum TaggingHandlers {
    static func put(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let body = try await call.body.collect(limit: Limits.xmlBodyBytesMax)
        let root: XMLElement
        do { root = try XMLDocumentParser.parse(body) } catch { throw S3Error.malformedXML() }
        guard root.name == "Tagging", let set = root.child("TagSet") else { throw S3Error.malformedXML() }
        let tags = try set.children("Tag").map { tag -> (String, String) in
            guard let name = tag.child("Key")?.text else { throw S3Error.malformedXML() }
            return (name, tag.child("Value")?.text ?? "")
        }
        let version = call.request.query("versionId")
        let changed = try await call.service.setObjectTags(call.principal, call.bucketName, key, tags,
                                                           versionID: version, operation: "PutObjectTagging")
        return Response(status: .ok, headers: versionHeaders(call, changed))
    }

    static func get(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let object = try await call.service.objectTags(call.principal, call.bucketName, key,
                                                       versionID: call.request.query("versionId"))
        let tags = object.metadata.tags
        var xml = XMLWriter()
        xml.element("Tagging") { xml in
            xml.element("TagSet") { xml in
                for (name, value) in tags {
                    xml.element("Tag") { xml in
                        xml.element("Key", name)
                        xml.element("Value", value)
                    }
                }
            }
        }
        var response = call.xml(xml.document)
        if let version = object.versionID { response.headers[.init("x-amz-version-id")!] = version }
        return response
    }

    static func delete(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let changed = try await call.service.setObjectTags(call.principal, call.bucketName, key, [],
                                                           versionID: call.request.query("versionId"),
                                                           operation: "DeleteObjectTagging")
        return Response(status: .noContent, headers: versionHeaders(call, changed))
    }

    private static func versionHeaders(_ call: S3Call, _ version: String?) -> HTTPFields {
        var headers = call.headers()
        if let version { headers[.init("x-amz-version-id")!] = version }
        return headers
    }

    /// The tag set of an `x-amz-tagging` header: URL query parameters (`k1=v1&k2=v2`, `+` a space).
    static func headerTags(_ value: String) throws -> [(String, String)] {
        guard !value.isEmpty else { return [] }
        return try value.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) throws -> String {
                guard let decoded = URIEncoding.decodeString(String(text).replacingOccurrences(of: "+", with: " "))
                else { throw S3Error("InvalidTag", "The header 'x-amz-tagging' shall be encoded as UTF-8 then "
                    + "URLEncoded URL query parameters without tag name duplicates.", status: .badRequest) }
                return decoded
            }
            return (try decode(parts[0]), parts.count > 1 ? try decode(parts[1]) : "")
        }
    }

    /// GetObjectAttributes: what `x-amz-object-attributes` asks of the object (ETag, Checksum, ObjectParts,
    /// StorageClass, ObjectSize), a read of its metadata like HeadObject.
    static func attributes(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let known: Set<String> = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
        let asked = Set((call.request.header("x-amz-object-attributes") ?? "").split(separator: ",")
            .map { String($0.trimmingSpaces) }.filter { !$0.isEmpty })
        guard !asked.isEmpty, asked.isSubset(of: known) else {
            throw S3Error.invalidArgument("Invalid attribute name specified.")
        }
        let maxParts = try call.request.header("x-amz-max-parts").map { text -> Int in
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("Invalid max-parts") }
            return min(value, Limits.partNumberMax)
        } ?? 1000
        let marker = try call.request.header("x-amz-part-number-marker").map { text -> Int in
            guard let value = Int(text), value >= 0 else { throw S3Error.invalidArgument("Invalid part-number-marker") }
            return value
        } ?? 0
        let info: ObjectInfo
        if let version = call.request.query("versionId") {
            info = try await call.service.objectVersion(call.principal, call.bucketName, key, versionID: version,
                                                        operation: .headObject,
                                                        conditions: Conditions.read(call.request)).info
        } else {
            info = try await call.service.object(call.principal, call.bucketName, key, operation: .headObject,
                                                 conditions: Conditions.read(call.request)).info
        }
        var xml = XMLWriter()
        xml.element("GetObjectAttributesResponse") { xml in
            if asked.contains("ETag") { xml.element("ETag", info.etag) }
            if asked.contains("Checksum"), let algorithm = info.checksumAlgorithm, let value = info.checksumValue {
                xml.element("Checksum") { xml in
                    xml.element("Checksum\(algorithm)", value)
                    xml.element("ChecksumType", info.parts.isEmpty ? "FULL_OBJECT" : "COMPOSITE")
                }
            }
            if asked.contains("ObjectParts"), !info.parts.isEmpty {
                let after = info.parts.filter { $0.number > marker }
                let page = after.prefix(maxParts)
                xml.element("ObjectParts") { xml in
                    // S3's wire name of TotalPartsCount.
                    xml.element("PartsCount", String(info.parts.count))
                    xml.element("PartNumberMarker", String(marker))
                    if let last = page.last { xml.element("NextPartNumberMarker", String(last.number)) }
                    xml.element("MaxParts", String(maxParts))
                    xml.element("IsTruncated", after.count > page.count ? "true" : "false")
                    for part in page {
                        xml.element("Part") { xml in
                            xml.element("PartNumber", String(part.number))
                            xml.element("Size", String(part.sizeBytes))
                        }
                    }
                }
            }
            if asked.contains("StorageClass") { xml.element("StorageClass", "STANDARD") }
            if asked.contains("ObjectSize") { xml.element("ObjectSize", String(info.sizeBytes)) }
        }
        var response = call.xml(xml.document)
        response.headers[.lastModified] = Timestamps.httpDate(info.lastModifiedMillis / 1000)
        if let version = info.versionID { response.headers[.init("x-amz-version-id")!] = version }
        return response
    }
}
