import Foundation
import HTTPTypes
import Hummingbird
import ObjectModel
import ObjectService

/// CreateBucket, HeadBucket, DeleteBucket, ListBuckets, GetBucketLocation.
enum BucketHandlers {
    static func listBuckets(_ call: S3Call) throws -> Response {
        var xml = XMLWriter()
        xml.element("ListAllMyBucketsResult") { xml in
            xml.element("Owner") { xml in
                xml.element("ID", call.tenant)
                xml.element("DisplayName", call.tenant)
            }
            xml.element("Buckets") { xml in
                for bucket in call.service.buckets(tenant: call.tenant) {
                    // A bucket of another jurisdiction shows only its name and jurisdiction: even its creation
                    // date is its jurisdiction's metadata.
                    xml.element("Bucket") { xml in
                        xml.element("Name", bucket.name)
                        if bucket.jurisdiction == call.gateway {
                            xml.element("CreationDate", Timestamps.iso8601(millis: bucket.createdMillis))
                        }
                        xml.element("BucketRegion", bucket.jurisdiction.code)
                    }
                }
            }
        }
        return call.xml(xml.document)
    }

    static func createBucket(_ call: S3Call) async throws -> Response {
        let body = try await call.body.collect(upTo: Limits.xmlBodyBytesMax)
        var location: String?
        if body.readableBytes > 0 {
            let root: XMLElement
            do { root = try XMLDocumentParser.parse(Array(body.readableBytesView)) } catch { throw S3Error.malformedXML() }
            guard root.name == "CreateBucketConfiguration" else { throw S3Error.malformedXML() }
            location = root.child("LocationConstraint")?.text
        }
        let record = try call.service.createBucket(call.bucketName, tenant: call.tenant, location: location)
        var headers = call.headers()
        headers[.location] = "/\(record.name)"
        return Response(status: .ok, headers: headers)
    }

    static func headBucket(_ call: S3Call) throws -> Response {
        let record = try call.service.bucket(call.bucketName, tenant: call.tenant)
        var headers = call.headers()
        headers[.init("x-amz-bucket-region")!] = record.jurisdiction.code
        return Response(status: .ok, headers: headers)
    }

    static func deleteBucket(_ call: S3Call) async throws -> Response {
        try await call.service.deleteBucket(call.bucketName, tenant: call.tenant)
        return Response(status: .noContent, headers: call.headers())
    }

    static func location(_ call: S3Call) throws -> Response {
        let record = try call.service.bucket(call.bucketName, tenant: call.tenant)
        var xml = XMLWriter()
        xml.element("LocationConstraint", record.jurisdiction.code)
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
