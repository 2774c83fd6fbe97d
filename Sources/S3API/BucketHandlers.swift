import Foundation
import Hashing
import HTTPTypes
import Hummingbird
import ObjectModel
import ObjectService

/// CreateBucket, HeadBucket, DeleteBucket, ListBuckets, GetBucketLocation.
enum BucketHandlers {
    /// ListBuckets, in name order, with S3's paging: `max-buckets` (1…10,000), `continuation-token` (opaque: the
    /// last name of the previous page), `prefix` and `bucket-region`.
    static func listBuckets(_ call: S3Call) throws -> Response {
        let request = call.request
        var maxBuckets = Limits.listBucketsMax
        if let text = request.query("max-buckets") {
            guard let value = Int(text), (1...Limits.listBucketsMax).contains(value) else {
                throw S3Error.invalidArgument("max-buckets must be an integer from 1 to \(Limits.listBucketsMax)")
            }
            maxBuckets = value
        }
        var after: String?
        if let token = request.query("continuation-token"), !token.isEmpty {
            guard let bytes = Base64.decode(token), bytes.first == 1,
                  let name = String(validating: bytes.dropFirst(), as: UTF8.self) else {
                throw S3Error.invalidArgument("The continuation token provided is incorrect")
            }
            after = name
        }
        let prefix = request.query("prefix") ?? ""
        let region = request.query("bucket-region").flatMap { $0.isEmpty ? nil : $0 }
        let matching = call.service.listBuckets(call.principal).filter { bucket in
            bucket.name.utf8.starts(with: prefix.utf8)
                && after.map { $0.utf8.lexicographicallyPrecedes(bucket.name.utf8) } ?? true
                && region.map { call.service.topology.jurisdiction(forLocation: $0) == bucket.jurisdiction } ?? true
        }
        let page = matching.prefix(maxBuckets)
        var xml = XMLWriter()
        xml.element("ListAllMyBucketsResult") { xml in
            xml.element("Owner") { xml in
                xml.element("ID", call.tenant)
                xml.element("DisplayName", call.tenant)
            }
            xml.element("Buckets") { xml in
                for bucket in page {
                    xml.element("Bucket") { xml in
                        xml.element("Name", bucket.name)
                        xml.element("CreationDate", Timestamps.iso8601(millis: bucket.createdMillis))
                        xml.element("BucketRegion", bucket.jurisdiction.code)
                    }
                }
            }
            if matching.count > page.count, let last = page.last {
                xml.element("ContinuationToken", Base64.encode([1] + Array(last.name.utf8)))
            }
            if request.query("prefix") != nil { xml.element("Prefix", prefix) }
        }
        return call.xml(xml.document)
    }

    static func createBucket(_ call: S3Call) async throws -> Response {
        // The body is verified against the signature before its location is believed: a LocationConstraint
        // rewritten on the way would otherwise pin the bucket to another country.
        let body = try await call.body.collect(limit: Limits.xmlBodyBytesMax)
        var location: String?
        if !body.isEmpty {
            let root: XMLElement
            do { root = try XMLDocumentParser.parse(body) } catch { throw S3Error.malformedXML() }
            guard root.name == "CreateBucketConfiguration" else { throw S3Error.malformedXML() }
            location = root.child("LocationConstraint")?.text
        }
        let objectLock = call.request.header("x-amz-bucket-object-lock-enabled")?.lowercased() == "true"
        let bucket = try await call.service.createBucket(call.principal, call.bucketName, location: location,
                                                         objectLock: objectLock)
        var headers = call.headers()
        headers[.location] = "/\(bucket.name)"
        return Response(status: .ok, headers: headers)
    }

    static func headBucket(_ call: S3Call) throws -> Response {
        let bucket = try call.service.headBucket(call.principal, call.bucketName)
        var headers = call.headers()
        headers[.init("x-amz-bucket-region")!] = bucket.jurisdiction.code
        return Response(status: .ok, headers: headers)
    }

    static func deleteBucket(_ call: S3Call) async throws -> Response {
        try await call.service.deleteBucket(call.principal, call.bucketName)
        return Response(status: .noContent, headers: call.headers())
    }

    static func location(_ call: S3Call) throws -> Response {
        let bucket = try call.service.headBucket(call.principal, call.bucketName)
        var xml = XMLWriter()
        xml.element("LocationConstraint", bucket.jurisdiction.code)
        return call.xml(xml.document.replacingFirst("<LocationConstraint>",
                                                    with: "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"))
    }
}

/// Bucket versioning: GetBucketVersioning and PutBucketVersioning.
extension BucketHandlers {
    static func getVersioning(_ call: S3Call) async throws -> Response {
        let state = try await call.service.bucketVersioning(call.principal, call.bucketName)
        var xml = XMLWriter()
        xml.element("VersioningConfiguration") { xml in
            if let state { xml.element("Status", state.rawValue) }
        }
        return call.xml(xml.document.replacingFirst("<VersioningConfiguration>",
                                                    with: "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"))
    }

    static func putVersioning(_ call: S3Call) async throws -> Response {
        let body = try await call.body.collect(limit: Limits.xmlBodyBytesMax)
        let root: XMLElement
        do { root = try XMLDocumentParser.parse(body) } catch { throw S3Error.malformedXML() }
        guard root.name == "VersioningConfiguration",
              let state = VersioningState(rawValue: String(root.child("Status")?.text.trimmingSpaces ?? "")) else {
            throw S3Error.malformedXML()
        }
        if root.child("MfaDelete")?.text.trimmingSpaces == "Enabled" {
            throw S3Error.notImplemented("MFA delete")
        }
        try await call.service.setBucketVersioning(call.principal, call.bucketName, state)
        return Response(status: .ok, headers: call.headers())
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
