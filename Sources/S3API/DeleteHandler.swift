import Hummingbird
import ObjectModel
import ObjectService
import SigV4

/// DeleteObject and DeleteObjects. Objects are unversioned: the only version id is `null`.
enum DeleteHandler {
    static func deleteObject(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        if let version = call.request.query("versionId"), version != "null" {
            throw S3Error.invalidArgument("Invalid version id specified")
        }
        try await call.service.deleteObject(call.principal, call.bucketName, key)
        return Response(status: .noContent, headers: call.headers())
    }

    static func deleteObjects(_ call: S3Call) async throws -> Response {
        _ = try call.service.headBucket(call.principal, call.bucketName)
        let body = try await call.body.collect(limit: Limits.deleteObjectsBodyBytesMax)
        let root: XMLElement
        do { root = try XMLDocumentParser.parse(body) } catch { throw S3Error.malformedXML() }
        guard root.name == "Delete" else { throw S3Error.malformedXML() }
        let objects = root.children("Object")
        guard !objects.isEmpty, objects.count <= Limits.deleteObjectsKeysMax else {
            throw S3Error.malformedXML("The XML you provided was not well-formed or did not validate against our "
                + "published schema: 1 to \(Limits.deleteObjectsKeysMax) objects are allowed")
        }
        let entries: [(key: String, version: String?)] = try objects.map { element in
            guard let key = element.child("Key")?.text else { throw S3Error.malformedXML() }
            return (key, element.child("VersionId")?.text)
        }
        let quiet = root.child("Quiet")?.text.trimmingSpaces.lowercased() == "true"
        var xml = XMLWriter()
        var results = [(key: String, version: String?, error: S3Error?)]()
        for entry in entries {
            do {
                if let problem = ObjectKey.problem(entry.key) {
                    throw entry.key.utf8.count > Limits.objectKeyBytesMax
                        ? S3Error(ObjectServiceError.keyTooLong(entry.key.utf8.count)) : S3Error.invalidArgument(problem)
                }
                if let version = entry.version, version != "null" {
                    throw S3Error("NoSuchVersion", "The specified version does not exist.", status: .notFound)
                }
                try await call.service.deleteObject(call.principal, call.bucketName, entry.key)
                results.append((entry.key, entry.version, nil))
            } catch {
                results.append((entry.key, entry.version, S3Error(error)))
            }
        }
        xml.element("DeleteResult") { xml in
            for result in results {
                if let error = result.error {
                    xml.element("Error") { xml in
                        xml.element("Key", result.key)
                        if let version = result.version { xml.element("VersionId", version) }
                        xml.element("Code", error.code)
                        xml.element("Message", error.message)
                    }
                } else if !quiet {
                    xml.element("Deleted") { xml in
                        xml.element("Key", result.key)
                        if let version = result.version { xml.element("VersionId", version) }
                    }
                }
            }
        }
        return call.xml(xml.document)
    }
}
