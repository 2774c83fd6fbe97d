import Foundation
import HTTPTypes
import Hummingbird
import ObjectModel
import ObjectService

/// CreateBucket, HeadBucket, DeleteBucket, ListBuckets, GetBucketLocation.
enum BucketHandlers {
    static func listBuckets(_ call: S3Call) -> Response {
        var xml = XMLWriter()
        xml.element("ListAllMyBucketsResult") { xml in
            xml.element("Owner") { xml in
                xml.element("ID", call.tenant)
                xml.element("DisplayName", call.tenant)
            }
            xml.element("Buckets") { xml in
                for bucket in call.service.listBuckets(call.principal) {
                    xml.element("Bucket") { xml in
                        xml.element("Name", bucket.name)
                        if let created = bucket.createdMillis {
                            xml.element("CreationDate", Timestamps.iso8601(millis: created))
                        }
                        xml.element("BucketRegion", bucket.jurisdiction.code)
                    }
                }
            }
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
        let bucket = try await call.service.createBucket(call.principal, call.bucketName, location: location)
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

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
