import Hashing
import Hummingbird
import ObjectModel
import ObjectService
import SigV4

/// ListObjects (V1) and ListObjectsV2.
enum ListHandlers {
    struct Common {
        var prefix: String
        var delimiter: String?
        var maxKeys: Int
        var urlEncode: Bool
    }

    static func common(_ call: S3Call) throws -> Common {
        let request = call.request
        var maxKeys = Limits.listKeysMax
        if let text = request.query("max-keys") {
            guard let value = Int(text), value >= 0 else {
                throw S3Error.invalidArgument("max-keys must be a non-negative integer")
            }
            maxKeys = min(value, Limits.listKeysMax)
        }
        var urlEncode = false
        if let encoding = request.query("encoding-type") {
            guard encoding == "url" else { throw S3Error.invalidArgument("Invalid Encoding Method specified in Request") }
            urlEncode = true
        }
        let delimiter = request.query("delimiter").flatMap { $0.isEmpty ? nil : $0 }
        return Common(prefix: request.query("prefix") ?? "", delimiter: delimiter, maxKeys: maxKeys, urlEncode: urlEncode)
    }

    /// One page of the bucket's objects after `after`, with the request's prefix, delimiter and max-keys.
    static func list(_ call: S3Call, _ options: Common, after: String?) async throws -> ListPage {
        try await call.service.listObjects(call.principal, call.bucketName, ListRequest(
            prefix: options.prefix, delimiter: options.delimiter, startAfter: after, maxKeys: options.maxKeys))
    }

    static func listV2(_ call: S3Call) async throws -> Response {
        let options = try common(call)
        var startAfter = call.request.query("start-after").flatMap { $0.isEmpty ? nil : $0 }
        // An empty token is no token (some clients send `continuation-token=` on the first page).
        let token = call.request.query("continuation-token").flatMap { $0.isEmpty ? nil : $0 }
        if let token {
            guard let bytes = Base64.decode(token), bytes.first == 1,
                  let decoded = String(validating: bytes.dropFirst(), as: UTF8.self) else {
                throw S3Error.invalidArgument("The continuation token provided is incorrect")
            }
            startAfter = decoded
        }
        let fetchOwner = call.request.query("fetch-owner") == "true"
        let page = try await list(call, options, after: startAfter)
        var xml = XMLWriter()
        xml.element("ListBucketResult") { xml in
            xml.element("Name", call.bucketName)
            xml.element("Prefix", encode(options.prefix, options.urlEncode))
            if let delimiter = options.delimiter { xml.element("Delimiter", encode(delimiter, options.urlEncode)) }
            xml.element("MaxKeys", String(options.maxKeys))
            if options.urlEncode { xml.element("EncodingType", "url") }
            xml.element("KeyCount", String(page.objects.count + page.commonPrefixes.count))
            xml.element("IsTruncated", page.isTruncated ? "true" : "false")
            if let token { xml.element("ContinuationToken", token) }
            if page.isTruncated, let last = page.last {
                xml.element("NextContinuationToken", Base64.encode([1] + Array(last.utf8)))
            }
            if let after = call.request.query("start-after") { xml.element("StartAfter", encode(after, options.urlEncode)) }
            contents(&xml, page, owner: fetchOwner ? call.tenant : nil, urlEncode: options.urlEncode)
        }
        return call.xml(xml.document)
    }

    static func listV1(_ call: S3Call) async throws -> Response {
        let options = try common(call)
        let marker = call.request.query("marker").flatMap { $0.isEmpty ? nil : $0 }
        let page = try await list(call, options, after: marker)
        var xml = XMLWriter()
        xml.element("ListBucketResult") { xml in
            xml.element("Name", call.bucketName)
            xml.element("Prefix", encode(options.prefix, options.urlEncode))
            xml.element("Marker", encode(marker ?? "", options.urlEncode))
            if page.isTruncated, options.delimiter != nil, let last = page.last {
                xml.element("NextMarker", encode(last, options.urlEncode))
            }
            xml.element("MaxKeys", String(options.maxKeys))
            if let delimiter = options.delimiter { xml.element("Delimiter", encode(delimiter, options.urlEncode)) }
            if options.urlEncode { xml.element("EncodingType", "url") }
            xml.element("IsTruncated", page.isTruncated ? "true" : "false")
            contents(&xml, page, owner: call.tenant, urlEncode: options.urlEncode)
        }
        return call.xml(xml.document)
    }

    /// ListObjectVersions: every version and delete marker, keys in byte order and each key's versions newest first
    /// (an unversioned bucket's objects are its `null` versions), paged by key-marker and version-id-marker.
    static func listVersions(_ call: S3Call) async throws -> Response {
        let options = try common(call)
        let keyMarker = call.request.query("key-marker").flatMap { $0.isEmpty ? nil : $0 }
        let versionMarker = call.request.query("version-id-marker").flatMap { $0.isEmpty ? nil : $0 }
        if versionMarker != nil, keyMarker == nil {
            throw S3Error.invalidArgument("A version-id marker cannot be specified without a key marker.")
        }
        let page = try await call.service.listObjectVersions(call.principal, call.bucketName, VersionListRequest(
            prefix: options.prefix, delimiter: options.delimiter, keyMarker: keyMarker, versionIDMarker: versionMarker,
            maxKeys: options.maxKeys))
        var xml = XMLWriter()
        xml.element("ListVersionsResult") { xml in
            xml.element("Name", call.bucketName)
            xml.element("Prefix", encode(options.prefix, options.urlEncode))
            xml.element("KeyMarker", encode(keyMarker ?? "", options.urlEncode))
            xml.element("VersionIdMarker", versionMarker ?? "")
            if let next = page.nextKeyMarker {
                xml.element("NextKeyMarker", encode(next, options.urlEncode))
                if let version = page.nextVersionIDMarker { xml.element("NextVersionIdMarker", version) }
            }
            xml.element("MaxKeys", String(options.maxKeys))
            if let delimiter = options.delimiter { xml.element("Delimiter", encode(delimiter, options.urlEncode)) }
            if options.urlEncode { xml.element("EncodingType", "url") }
            xml.element("IsTruncated", page.isTruncated ? "true" : "false")
            for version in page.versions {
                xml.element(version.isDeleteMarker ? "DeleteMarker" : "Version") { xml in
                    xml.element("Key", encode(version.key, options.urlEncode))
                    xml.element("VersionId", version.versionID)
                    xml.element("IsLatest", version.isLatest ? "true" : "false")
                    xml.element("LastModified", Timestamps.iso8601(millis: version.lastModifiedMillis))
                    if !version.isDeleteMarker {
                        xml.element("ETag", "\"\(version.etag)\"")
                        if let algorithm = version.checksumAlgorithm { xml.element("ChecksumAlgorithm", algorithm) }
                        xml.element("Size", String(version.sizeBytes))
                        xml.element("StorageClass", "STANDARD")
                    }
                    xml.element("Owner") { xml in xml.element("ID", call.tenant); xml.element("DisplayName", call.tenant) }
                }
            }
            for prefix in page.commonPrefixes {
                xml.element("CommonPrefixes") { xml in xml.element("Prefix", encode(prefix, options.urlEncode)) }
            }
        }
        return call.xml(xml.document)
    }

    private static func contents(_ xml: inout XMLWriter, _ page: ListPage, owner: String?, urlEncode: Bool) {
        for object in page.objects {
            xml.element("Contents") { xml in
                xml.element("Key", encode(object.key, urlEncode))
                xml.element("LastModified", Timestamps.iso8601(millis: object.lastModifiedMillis))
                xml.element("ETag", "\"\(object.etag)\"")
                if let algorithm = object.checksumAlgorithm { xml.element("ChecksumAlgorithm", algorithm) }
                xml.element("Size", String(object.sizeBytes))
                if let owner {
                    xml.element("Owner") { xml in
                        xml.element("ID", owner)
                        xml.element("DisplayName", owner)
                    }
                }
                xml.element("StorageClass", "STANDARD")
            }
        }
        for prefix in page.commonPrefixes {
            xml.element("CommonPrefixes") { xml in xml.element("Prefix", encode(prefix, urlEncode)) }
        }
    }

    /// S3's `encoding-type=url`: keys percent-encoded, `/` kept.
    static func encode(_ value: String, _ urlEncode: Bool) -> String {
        urlEncode ? URIEncoding.encode(value, keepSlash: true) : value
    }
}
