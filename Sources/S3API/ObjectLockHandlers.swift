import HTTPTypes
import Hummingbird
import ObjectModel
import ObjectService

/// S3 Object Lock: a bucket's lock configuration (`?object-lock`), a version's retention (`?retention`) and legal
/// hold (`?legal-hold`). The rules live in the service; here is their XML.
enum ObjectLockHandlers {
    static let namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

    static func getConfiguration(_ call: S3Call) async throws -> Response {
        let lock = try await call.service.bucketObjectLock(call.principal, call.bucketName)
        var xml = XMLWriter()
        xml.element("ObjectLockConfiguration") { xml in
            xml.element("ObjectLockEnabled", "Enabled")
            if let retention = lock.defaultRetention {
                xml.element("Rule") { xml in
                    xml.element("DefaultRetention") { xml in
                        xml.element("Mode", retention.mode)
                        if let days = retention.days { xml.element("Days", String(days)) }
                        if let years = retention.years { xml.element("Years", String(years)) }
                    }
                }
            }
        }
        return call.xml(namespaced(xml.document, "ObjectLockConfiguration"))
    }

    static func putConfiguration(_ call: S3Call) async throws -> Response {
        let root = try await parse(call, "ObjectLockConfiguration")
        guard root.child("ObjectLockEnabled")?.text.trimmingSpaces == "Enabled" else { throw S3Error.malformedXML() }
        var retention: DefaultRetention?
        if let rule = root.child("Rule") {
            guard let element = rule.child("DefaultRetention"), let mode = element.child("Mode")?.text.trimmingSpaces
            else { throw S3Error.malformedXML() }
            let days = try element.child("Days").map { try integer($0.text) }
            let years = try element.child("Years").map { try integer($0.text) }
            retention = DefaultRetention(mode: String(mode), days: days, years: years)
        }
        try await call.service.setBucketObjectLock(call.principal, call.bucketName, defaultRetention: retention)
        return Response(status: .ok, headers: call.headers())
    }

    static func getRetention(_ call: S3Call) async throws -> Response {
        let retention = try await call.service.objectRetention(call.principal, call.bucketName, try call.objectKey(),
                                                               versionID: call.request.query("versionId"))
        var xml = XMLWriter()
        xml.element("Retention") { xml in
            xml.element("Mode", retention.mode)
            xml.element("RetainUntilDate", Timestamps.iso8601(millis: retention.retainUntilMillis))
        }
        return call.xml(namespaced(xml.document, "Retention"))
    }

    static func putRetention(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let root = try await parse(call, "Retention")
        let mode = root.child("Mode").map { String($0.text.trimmingSpaces) }
        var until: Int64?
        if let text = root.child("RetainUntilDate")?.text {
            guard let seconds = Timestamps.parseISO8601(String(text.trimmingSpaces)) else { throw S3Error.malformedXML() }
            until = seconds * 1000
        }
        let version = try await call.service.setObjectRetention(
            call.principal, call.bucketName, key, versionID: call.request.query("versionId"), mode: mode,
            retainUntilMillis: until, bypassGovernance: DeleteHandler.bypassGovernance(call))
        return Response(status: .ok, headers: versionHeaders(call, version))
    }

    static func getLegalHold(_ call: S3Call) async throws -> Response {
        let on = try await call.service.objectLegalHold(call.principal, call.bucketName, try call.objectKey(),
                                                        versionID: call.request.query("versionId"))
        var xml = XMLWriter()
        xml.element("LegalHold") { xml in xml.element("Status", on ? "ON" : "OFF") }
        return call.xml(namespaced(xml.document, "LegalHold"))
    }

    static func putLegalHold(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let root = try await parse(call, "LegalHold")
        let on: Bool
        switch root.child("Status")?.text.trimmingSpaces {
        case "ON": on = true
        case "OFF": on = false
        default: throw S3Error.malformedXML()
        }
        let version = try await call.service.setObjectLegalHold(call.principal, call.bucketName, key,
                                                                versionID: call.request.query("versionId"), on: on)
        return Response(status: .ok, headers: versionHeaders(call, version))
    }

    /// The request's XML body, whose root must be `rootName`.
    private static func parse(_ call: S3Call, _ rootName: String) async throws -> XMLElement {
        let body = try await call.body.collect(limit: Limits.xmlBodyBytesMax)
        let root: XMLElement
        do { root = try XMLDocumentParser.parse(body) } catch { throw S3Error.malformedXML() }
        guard root.name == rootName else { throw S3Error.malformedXML() }
        return root
    }

    private static func integer(_ text: String) throws -> Int {
        guard let value = Int(text.trimmingSpaces) else { throw S3Error.malformedXML() }
        return value
    }

    private static func namespaced(_ document: String, _ root: String) -> String {
        document.replacingFirst("<\(root)>", with: "<\(root) xmlns=\"\(namespace)\">")
    }

    private static func versionHeaders(_ call: S3Call, _ version: String?) -> HTTPFields {
        var headers = call.headers()
        if let version { headers[.init("x-amz-version-id")!] = version }
        return headers
    }
}
