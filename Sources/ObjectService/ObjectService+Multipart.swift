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
                             checksumAlgorithm: ChecksumAlgorithm?) async throws -> String {
        let record = try resolve(principal, bucket)
        let upload = try await store.createUpload(record.jurisdiction, tenant: record.tenant, bucket: record.name,
                                                  key: key, metadata: metadata, checksumAlgorithm: checksumAlgorithm,
                                                  gateway: principal.gateway, caller: principal.auditFields)
        return upload.description
    }

    /// A writer for part `partNumber` of an upload; it inherits the upload's checksum algorithm.
    public func partWriter(_ principal: Principal, _ bucket: String, _ key: String, uploadID: String, partNumber: Int,
                           expectations: PayloadExpectations) async throws -> ObjectWriter {
        let record = try resolve(principal, bucket)
        let template = try await visibleUpload(principal, record, key, uploadID)
        return try await store.partWriter(record.jurisdiction, tenant: record.tenant, template: template,
                                          number: partNumber, expectations: expectations, gateway: principal.gateway,
                                          caller: principal.auditFields)
    }

    /// Completes an upload with the parts the client names; `condition` as a PUT's.
    public func completeUpload(_ principal: Principal, _ bucket: String, _ key: String, uploadID: String,
                               parts: [CompletedPart], condition: WriteCondition?) async throws -> WrittenObject {
        let record = try resolve(principal, bucket)
        let template = try await visibleUpload(principal, record, key, uploadID)
        try await checkConditionalWrite(principal, record, key, condition: condition)
        let manifest = try await store.completeUpload(record.jurisdiction, tenant: record.tenant, template: template,
                                                      parts: parts, condition: condition, gateway: principal.gateway,
                                                      caller: principal.auditFields)
        return WrittenObject(etag: manifest.etag, lastModifiedMillis: manifest.lastModifiedMillis,
                             checksumAlgorithm: manifest.checksumAlgorithm, checksumValue: manifest.checksumValue)
    }

    /// Aborts an upload: its records and parts are dropped.
    public func abortUpload(_ principal: Principal, _ bucket: String, _ key: String, uploadID: String) async throws {
        let record = try resolve(principal, bucket)
        let template = try await visibleUpload(principal, record, key, uploadID)
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
        }, commonPrefixes: page.commonPrefixes, isTruncated: page.isTruncated)
    }

    /// The upload's template; `NoSuchUpload` for a malformed or unknown id.
    func upload(_ record: BucketRecord, _ key: String, _ uploadID: String) async throws -> ObjectManifest {
        guard let bytes = Hex.decode(uploadID), let id = VersionID(bytes: bytes) else {
            throw ObjectServiceError.noSuchUpload(uploadID)
        }
        return try await store.upload(record.jurisdiction, bucket: record.name, key: key, upload: id)
    }

    /// The upload, if the principal's gateway may write to it: through the bucket's own jurisdiction any upload,
    /// through another only one that jurisdiction started (its key was issued to it); every other upload answers
    /// `NoSuchUpload`, exactly as a missing one does.
    func visibleUpload(_ principal: Principal, _ record: BucketRecord, _ key: String, _ uploadID: String) async throws
        -> ObjectManifest
    {
        let template = try await upload(record, key, uploadID)
        guard principal.gateway != record.jurisdiction else { return template }
        guard let envelope = template.envelope,
              let header = try? EnvelopeHeader(decoding: envelope, bucket: template.bucket, key: template.key),
              header.bucketKey.issuedTo == principal.gateway else {
            throw ObjectServiceError.noSuchUpload(uploadID)
        }
        return template
    }
}
