import ObjectModel

/// Errors of the object service. The S3 layer maps each to its S3 code and HTTP status, in one place.
public enum ObjectServiceError: Error, Sendable, Equatable {
    case noSuchBucket(String)
    case noSuchKey(bucket: String, key: String)
    case bucketAlreadyExists(String)
    case bucketAlreadyOwnedByYou(String)
    case bucketNotEmpty(String)
    /// A write into a bucket while it is being deleted (or a second deletion of it at once).
    case operationAborted(String)
    case invalidBucketName(String, reason: String)
    case invalidLocationConstraint(String)
    case keyTooLong(Int)
    case accessDenied(String)
    /// Too few storage nodes of the jurisdiction answered.
    case serviceUnavailable(String)
    case entityTooLarge(Int64)
    case metadataTooLarge(Int)
    case invalidArgument(String)
    /// A jurisdiction code that is not one of the deployment's (the same answer from every command and API).
    case unknownJurisdiction(Jurisdiction, known: [Jurisdiction])
    /// A request S3 calls invalid (`InvalidRequest`).
    case invalidRequest(String)
    case tenantAlreadyExists(String)
    case noSuchTenant(String)
    case noSuchAccessKey(String)
    /// A condition (`If-Match`, `If-None-Match`, …) did not hold.
    case preconditionFailed(String)
    /// A tag set S3 would not accept (`InvalidTag`).
    case invalidTag(String)
    /// A conditional write raced a write or delete of the same key it could not have seen: retry it.
    case conditionalRequestConflict
    /// GET/HEAD condition says the client's copy (this ETag, this modification time) is current.
    case notModified(etag: String, lastModifiedMillis: Int64)
    /// No active access key has this id (or it was revoked).
    case invalidAccessKey(String, revoked: Bool)
    case noSuchUpload(String)
    case invalidPart(String)
    case invalidPartOrder
    case entityTooSmall(partNumber: UInt32)
    case invalidPartNumber(Int)
    /// A request would move data of one jurisdiction to another.
    case crossJurisdiction(from: Jurisdiction, to: Jurisdiction)
    /// Stored data failed to parse or a segment is missing on every replica.
    case internalError(String)
    /// The object's key cannot be used: destroyed (crypto-shredded) or retired.
    case keyUnavailable(String)
    /// The jurisdiction's key store is sealed or unreachable.
    case keyStoreUnavailable(String)
    /// Stored bytes failed authentication on every replica: tampered with or damaged.
    case integrity(String)
    /// A read that would carry a bucket's data out of its jurisdiction, without a grant covering it.
    case sovereigntyRefused(bucket: String, jurisdiction: Jurisdiction, gateway: Jurisdiction, reason: String)
    /// Managing a bucket (deleting, configuring) through a gateway of another jurisdiction than the bucket's.
    case managedElsewhere(bucket: String, jurisdiction: Jurisdiction, gateway: Jurisdiction)
    /// The key store refused to release a key across a border (its reason code): a grant revoked, expired or used
    /// up since the read was decided.
    case keyReleaseRefused(reason: String)
    /// A version id that names no version of the key.
    case noSuchVersion(bucket: String, key: String, version: String)
    /// The version a read reached is a delete marker: `NoSuchKey` for the latest, `MethodNotAllowed` by version id.
    case deleteMarker(bucket: String, key: String, version: String, byVersion: Bool)
    /// A bucket configuration change its state does not allow (suspending versioning under object lock).
    case invalidBucketState(String)
    /// A version that object lock protects (retention or legal hold).
    case objectLocked(String)
    /// The bucket has no object lock configuration.
    case noObjectLockConfiguration(String)
    /// The version has no retention (GetObjectRetention).
    case noObjectRetention
    /// A placement change the topology refuses (`code` names why: `NoSuchNode`, `NodeNotDrained`, …).
    case topologyRefused(code: String, message: String)
}

extension ObjectServiceError {
    /// The one wording of errors that read the same through every API and command.
    public static func describe(_ error: ObjectServiceError) -> String {
        switch error {
        case .unknownJurisdiction(let code, let known):
            return "\(code) is not a jurisdiction of this deployment (its jurisdictions: "
                + known.map(\.code).sorted().joined(separator: ", ") + ")"
        default: return "\(error)"
        }
    }
}
