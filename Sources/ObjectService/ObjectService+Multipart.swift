import Envelope
import Hashing
import ObjectModel
import SigV4
import Sovereignty
import StorageNode

/// Multipart uploads through the one door. Starting, sending parts, completing and aborting write into the bucket's
/// jurisdiction (allowed from anywhere); listing uploads and parts reads it (a grant across a border). Across a border
/// an upload is visible only to the jurisdiction that started it: any other upload answers like a missing one.
extension ObjectService {
    /// Starts an upload of `key`; returns its id.
    public func createUpload(_ principal: Principal, _ bucket: String, _ key: String, metadata: ObjectMetadata,
                             checksumAlgorithm: ChecksumAlgorithm?, lock request: ObjectLockRequest? = nil) async throws
        -> String
    {
        let (record, lease) = try admitWrite(principal, bucket)
        defer { lease.release() }
        let upload = try await store.createUpload(record.jurisdiction, tenant: record.tenant, bucket: record.name,
                                                  key: key, metadata: metadata, checksumAlgorithm: checksumAlgorithm,
                                                  lock: try lock(record, request, principal: principal),
                                                  gateway: principal.gateway, caller: principal.auditFields)
        return upload.description
    }

    /// A writer for part `partNumber` of an upload; it inherits the upload's checksum algorithm.
    public func partWriter(_ principal: Principal, _ bucket: String, _ key: String, uploadID: String, partNumber: Int,
                           expectations: PayloadExpectations) async throws -> ObjectWriter {
        let (record, lease) = try admitWrite(principal, bucket)
        let template = try await visibleUpload(principal, record, key, uploadID, use: .addPart)
        let writer = try await store.partWriter(record.jurisdiction, tenant: record.tenant, template: template,
                                                number: partNumber, expectations: expectations,
                                                gateway: principal.gateway, caller: principal.auditFields)
        writer.lease = lease
        return writer
    }

    /// Completes an upload with the parts the client names; `condition` as a PUT's.
    public func completeUpload(_ principal: Principal, _ bucket: String, _ key: String, uploadID: String,
                               parts: [CompletedPart], condition: WriteCondition?) async throws -> WrittenObject {
        let (record, lease) = try admitWrite(principal, bucket)
        defer { lease.release() }
        let template: ObjectManifest
        do {
            template = try await visibleUpload(principal, record, key, uploadID, use: .complete)
        } catch ObjectServiceError.noSuchUpload(let id) {
            // SDKs retry a completion whose answer was lost: the same parts of an upload that became the key's
            // current version get the same answer, as in S3. Only through the bucket's own jurisdiction: elsewhere the
            // answer would tell whether J's key still holds that version (a read, which the refusal just recorded
            // was not allowed).
            guard principal.gateway == record.jurisdiction,
                  let done = try await completedEarlier(record, key, uploadID, parts: parts) else {
                throw ObjectServiceError.noSuchUpload(id)
            }
            return done
        }
        try await checkConditionalWrite(principal, record, key, condition: condition)
        let manifest = try await store.completeUpload(record.jurisdiction, tenant: record.tenant, template: template,
                                                      parts: parts, condition: condition, gateway: principal.gateway,
                                                      caller: principal.auditFields)
        return WrittenObject(manifest)
    }

    /// The result of an earlier completion of `uploadID` with these `parts`, if the key's current version is what it
    /// made (a completed object keeps its upload's id as its version id).
    func completedEarlier(_ record: BucketRecord, _ key: String, _ uploadID: String,
                          parts: [CompletedPart]) async throws -> WrittenObject? {
        guard let bytes = Hex.decode(uploadID), let id = VersionID(bytes: bytes),
              let current = try await store.locate(record.jurisdiction, bucket: record.name, key: key)?.manifest,
              current.versionID == id, current.parts.count == parts.count,
              zip(current.parts, parts).allSatisfy({ stored, sent in
                  Int(stored.number) == sent.number && stored.etag.utf8.elementsEqual(sent.etag.trimmingQuotes.utf8)
              }) else { return nil }
        return WrittenObject(current)
    }

    /// Aborts an upload: its records and parts are dropped.
    public func abortUpload(_ principal: Principal, _ bucket: String, _ key: String, uploadID: String) async throws {
        let record = try resolve(principal, bucket)
        let template = try await visibleUpload(principal, record, key, uploadID, use: .abort)
        try await store.abortUpload(record.jurisdiction, bucket: record.name, key: key, upload: template.versionID)
    }

    /// A page of an upload's parts after `marker` (a read: a grant across a border, decided before the upload is
    /// looked up).
    public func listParts(_ principal: Principal, _ bucket: String, _ key: String, uploadID: String, after marker: Int,
                          limit: Int) async throws -> PartsPage {
        let record = try resolve(principal, bucket)
        try await gate.checkRead(principal, record, .listParts, key: key)
        let template = try await upload(record, key, uploadID)
        let (parts, truncated) = try await store.listParts(record.jurisdiction, upload: template.versionID,
                                                           after: marker, limit: limit)
        return PartsPage(parts: parts.map {
            PartInfo(number: Int($0.part.number), etag: $0.part.etag, sizeBytes: $0.part.sizeBytes,
                     lastModifiedMillis: $0.lastModifiedMillis, checksumValue: $0.part.checksumValue)
        }, isTruncated: truncated, checksumAlgorithm: template.checksumAlgorithm)
    }

    /// A page of the bucket's uploads in progress (a read of the bucket across a border).
    public func listUploads(_ principal: Principal, _ bucket: String, prefix: String, delimiter: String?,
                            keyMarker: String?, uploadMarker: String?, limit: Int) async throws -> UploadsPage {
        let record = try resolve(principal, bucket)
        try await gate.checkRead(principal, record, .listMultipartUploads, prefix: prefix)
        let page = try await store.listUploads(record.jurisdiction, bucket: record.name, prefix: prefix,
                                               delimiter: delimiter, keyMarker: keyMarker, uploadMarker: uploadMarker,
                                               limit: limit)
        return UploadsPage(uploads: page.uploads.map {
            UploadInfo(key: $0.key, uploadID: $0.versionID.description, initiatedMillis: $0.lastModifiedMillis,
                       checksumAlgorithm: $0.checksumAlgorithm)
        }, commonPrefixes: page.commonPrefixes, isTruncated: page.isTruncated, nextKeyMarker: page.nextKeyMarker,
           nextUploadMarker: page.nextUploadMarker)
    }

    /// The upload's template; `NoSuchUpload` for a malformed or unknown id.
    func upload(_ record: BucketRecord, _ key: String, _ uploadID: String) async throws -> ObjectManifest {
        guard let bytes = Hex.decode(uploadID), let id = VersionID(bytes: bytes) else {
            throw ObjectServiceError.noSuchUpload(uploadID)
        }
        return try await store.upload(record.jurisdiction, bucket: record.name, key: key, upload: id)
    }

    /// The upload, if the principal's gateway may `use` it. Through another jurisdiction's gateway only an upload
    /// that jurisdiction started (its key was issued to it): every other upload answers `NoSuchUpload`, exactly as a
    /// missing one does (audited and paced as a refusal). Through the bucket's own jurisdiction any upload may be
    /// completed or aborted, but parts go into an upload started elsewhere only through the gateway that started it:
    /// its key is released to that jurisdiction without a grant, so it must cover nothing but the bytes sent from
    /// there (not a part copied from an object the other jurisdiction may not read).
    func visibleUpload(_ principal: Principal, _ record: BucketRecord, _ key: String, _ uploadID: String,
                       use: UploadUse) async throws -> ObjectManifest
    {
        let template: ObjectManifest
        do {
            template = try await upload(record, key, uploadID)
        } catch ObjectServiceError.noSuchUpload where principal.gateway != record.jurisdiction {
            throw try await gate.refuse(principal, record, use.rawValue, key: key, reason: .unknownUpload,
                                        error: .noSuchUpload(uploadID))
        }
        let issuedTo = template.envelope.flatMap {
            try? EnvelopeHeader(decoding: $0, bucket: template.bucket, key: template.key)
        }?.bucketKey.issuedTo
        guard principal.gateway != record.jurisdiction else {
            if use == .addPart, let issuedTo {
                throw ObjectServiceError.accessDenied("upload \(uploadID) was started through a gateway of "
                    + "\(issuedTo): its parts are sent through one")
            }
            return template
        }
        guard issuedTo == principal.gateway else {
            throw try await gate.refuse(principal, record, use.rawValue, key: key, reason: .uploadStartedElsewhere,
                                        error: .noSuchUpload(uploadID))
        }
        return template
    }

    /// What is done with an upload found by ``visibleUpload(_:_:_:_:use:)`` (named as the S3 operation).
    enum UploadUse: String {
        case addPart = "UploadPart"
        case complete = "CompleteMultipartUpload"
        case abort = "AbortMultipartUpload"
    }
}
