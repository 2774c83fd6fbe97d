import Hashing
import ObjectModel
import SigV4
import Sovereignty
import StorageNode

/// CopyObject and UploadPartCopy: the source is read through the same door as a GET (ownership, then the sovereignty
/// rule for its jurisdiction, its key released for it alone across a border), segment by segment, and written through
/// a fresh writer, so the copy is verified and stored like any upload. Both ends must be in one jurisdiction.
extension ObjectService {
    /// Copies `source` to `key` of `bucket` with the source's metadata or new metadata; `condition` is the
    /// destination's (decided as a read of it across a border, like a PUT's).
    public func copyObject(_ principal: Principal, from source: CopySource, to bucket: String, _ key: String,
                           metadata directive: MetadataDirective, tags: [(String, String)]? = nil,
                           condition: WriteCondition?, checksumAlgorithm: ChecksumAlgorithm?,
                           lock request: ObjectLockRequest? = nil) async throws -> WrittenObject
    {
        let (destination, lease) = try admitWrite(principal, bucket)
        let objectLock = try lock(destination, request, principal: principal)
        let stored = try await openSource(principal, source, destination: destination, operation: .copySource)
        // Copying a named version onto its key is how a previous version is restored; the latest onto itself is not.
        if source.bucket.utf8.elementsEqual(bucket.utf8), source.key.utf8.elementsEqual(key.utf8),
           source.versionID == nil, case .copy = directive {
            throw ObjectServiceError.invalidRequest("This copy request is illegal because it is trying to copy an "
                + "object to itself without changing the object's metadata, storage class, website redirect location "
                + "or encryption attributes.")
        }
        try await checkConditionalWrite(principal, destination, key, condition: condition)
        var metadata: ObjectMetadata
        switch directive {
        case .copy: metadata = stored.info.metadata
        case .replace(let replaced): metadata = replaced
        }
        // Tags: the source's unless the request replaces them (nil: copied).
        metadata.tags = tags ?? stored.info.metadata.tags
        var expectations = PayloadExpectations(sizeBytes: stored.info.sizeBytes)
        if let name = checksumAlgorithm?.rawValue ?? stored.info.checksumAlgorithm {
            guard let algorithm = ChecksumAlgorithm(name: name) else {
                throw ObjectServiceError.invalidRequest("Checksum algorithm \(name) is not supported")
            }
            expectations.checksumAlgorithm = algorithm
        }
        let writer = try await store.writer(destination.jurisdiction, tenant: destination.tenant,
                                            bucket: destination.name, key: key, metadata: metadata,
                                            condition: condition, expectations: expectations,
                                            gateway: principal.gateway, operation: "CopyObject",
                                            caller: principal.auditFields)
        writer.lease = lease
        writer.lock = objectLock
        writer.placement = .copy
        writer.placementDetails["source-bucket"] = source.bucket
        writer.placementDetails["source-key"] = source.key
        writer.placementDetails["source-version"] = stored.located.manifest.versionID.description
        var written = try await copy(stored, range: nil, into: writer)
        written.sourceVersionID = stored.info.versionID
        return written
    }

    /// Copies `range` of `source` (all of it when nil; `range` gets the source's size and answers the range, or
    /// throws for one the source cannot satisfy) into part `partNumber` of upload `uploadID` of `key`.
    public func copyPart(_ principal: Principal, from source: CopySource, to bucket: String, _ key: String,
                         uploadID: String, partNumber: Int,
                         range: (Int64) throws -> ClosedRange<Int64>?) async throws -> WrittenObject {
        let (destination, lease) = try admitWrite(principal, bucket)
        let template = try await visibleUpload(principal, destination, key, uploadID, use: .addPart)
        let stored = try await openSource(principal, source, destination: destination,
                                          operation: .uploadPartCopySource)
        let bytes = try range(stored.info.sizeBytes)
        let size = bytes.map { $0.upperBound - $0.lowerBound + 1 } ?? stored.info.sizeBytes
        let writer = try await store.partWriter(destination.jurisdiction, tenant: destination.tenant,
                                                template: template, number: partNumber,
                                                expectations: PayloadExpectations(sizeBytes: size),
                                                gateway: principal.gateway, caller: principal.auditFields)
        writer.lease = lease
        return try await copy(stored, range: bytes, into: writer)
    }

    /// The source of a copy, opened: owned by the principal's tenant, in the destination's jurisdiction, read under
    /// the sovereignty rule, its conditions checked.
    func openSource(_ principal: Principal, _ source: CopySource, destination: BucketRecord,
                    operation: ReadOperation) async throws -> StoredObject {
        if let problem = ObjectKey.problem(source.key) { throw ObjectServiceError.invalidArgument(problem) }
        let record = try resolve(principal, source.bucket)
        guard record.jurisdiction == destination.jurisdiction else {
            throw try await gate.refuse(principal, record, operation.rawValue, key: source.key,
                                        reason: .copyAcrossJurisdictions, error: .crossJurisdiction(
                                            from: record.jurisdiction, to: destination.jurisdiction))
        }
        let crossing = try await gate.checkRead(principal, record, operation, key: source.key)
        let stored: StoredObject
        if let versionID = source.versionID {
            let found = try await findVersion(record, source.key, versionID, crossing: crossing, markers: true)
            if found.manifest.isTombstone {
                // S3 answers a copy from a delete marker as a bad request.
                throw ObjectServiceError.invalidRequest("The source of a copy request may not specifically refer to "
                    + "a delete marker by version id.")
            }
            stored = try await open(record, found, operation: operation, crossing: crossing, principal: principal)
        } else {
            stored = try await open(record, source.key, operation: operation, crossing: crossing, principal: principal)
        }
        try source.conditions.check(etag: stored.info.etag, lastModifiedMillis: stored.info.lastModifiedMillis,
                                    copySource: true)
        return stored
    }

    /// Reads `range` of the source (all of it when nil) into `writer` and finishes it.
    private func copy(_ stored: StoredObject, range: ClosedRange<Int64>?, into writer: ObjectWriter) async throws
        -> WrittenObject
    {
        do {
            let size = stored.info.sizeBytes
            if let bytes = range ?? (size > 0 ? 0...(size - 1) : nil) {
                try await stored.read(bytes).all { slice in
                    try slice.withUnsafeReadableBytes { try writer.append($0) }
                    try await writer.flush()
                }
            }
            return try await writer.finish()
        } catch {
            await writer.abort()
            throw error
        }
    }
}
