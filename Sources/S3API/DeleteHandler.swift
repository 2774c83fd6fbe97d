import Hummingbird
import ObjectModel
import ObjectService
import SigV4

/// DeleteObject and DeleteObjects: without a version id a tombstone (a delete marker in a versioned bucket), with
/// one the permanent deletion of that version.
enum DeleteHandler {
    static func deleteObject(_ call: S3Call) async throws -> Response {
        let key = try call.objectKey()
        let outcome = try await delete(call, key, version: call.request.query("versionId"))
        var headers = call.headers()
        if let version = outcome.versionID { headers[.init("x-amz-version-id")!] = version }
        if outcome.deleteMarker { headers[.init("x-amz-delete-marker")!] = "true" }
        return Response(status: .noContent, headers: headers)
    }

    private static func delete(_ call: S3Call, _ key: String, version: String?) async throws -> DeleteOutcome {
        guard let version else { return try await call.service.deleteObject(call.principal, call.bucketName, key) }
        return try await call.service.deleteObjectVersion(call.principal, call.bucketName, key, versionID: version,
                                                          bypassGovernance: bypassGovernance(call))
    }

    /// `x-amz-bypass-governance-retention: true`.
    static func bypassGovernance(_ call: S3Call) -> Bool {
        call.request.header("x-amz-bypass-governance-retention")?.trimmingSpaces.lowercased() == "true"
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
        var results = [(key: String, version: String?, outcome: DeleteOutcome?, error: S3Error?)]()
        for entry in entries {
            do {
                if let problem = ObjectKey.problem(entry.key) {
                    throw entry.key.utf8.count > Limits.objectKeyBytesMax
                        ? S3Error(ObjectServiceError.keyTooLong(entry.key.utf8.count)) : S3Error.invalidArgument(problem)
                }
                let outcome = try await delete(call, entry.key, version: entry.version)
                results.append((entry.key, entry.version, outcome, nil))
            } catch {
                var failure = S3Error(error)
                // A version id Qantara never gave out names no version: per entry, S3 answers NoSuchVersion.
                if let version = entry.version, VersionName.selector(version) == nil, failure.code == "InvalidArgument" {
                    failure = S3Error("NoSuchVersion", "The specified version does not exist.", status: .notFound)
                }
                results.append((entry.key, entry.version, nil, failure))
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
                        if let outcome = result.outcome, outcome.deleteMarker {
                            xml.element("DeleteMarker", "true")
                            if result.version == nil, let marker = outcome.versionID {
                                xml.element("DeleteMarkerVersionId", marker)
                            }
                        }
                    }
                }
            }
        }
        return call.xml(xml.document)
    }
}
