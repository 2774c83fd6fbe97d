import NIOCore
import ObjectModel
import SigV4
import Sovereignty
import StorageNode

/// Objects through the one door: listings, reads, writes and deletes, each checked for ownership and sovereignty
/// before storage is touched.
extension ObjectService {
    /// One page of a bucket's objects (ListObjects V1/V2, ListObjectVersions): a read of the bucket's metadata,
    /// refused across a border without a grant covering the listed prefix.
    public func listObjects(_ principal: Principal, _ bucket: String, _ request: ListRequest) async throws -> ListPage {
        let record = try resolve(principal, bucket)
        try await gate.checkRead(principal, record, .listObjects, prefix: request.prefix)
        let page = try await store.list(record.jurisdiction, bucket: record.name, request)
        return ListPage(objects: page.objects.map(ObjectSummary.init), commonPrefixes: page.commonPrefixes,
                        isTruncated: page.isTruncated, last: page.last)
    }

    /// The newest version of `key`, its key unwrapped and metadata opened, for GetObject (`.getObject`) or HeadObject
    /// (`.headObject`); `conditions` are checked against it (304 or 412). Across a border the read needs a grant,
    /// decided before the object is even looked up, so an existing and a missing key answer alike.
    public func object(_ principal: Principal, _ bucket: String, _ key: String, operation: ReadOperation,
                       conditions: ReadConditions = ReadConditions()) async throws -> StoredObject {
        precondition(operation == .getObject || operation == .headObject, "not an object read")
        let record = try resolve(principal, bucket)
        let crossing = try await gate.checkRead(principal, record, operation, key: key)
        let stored = try await open(record, key, operation: operation, crossing: crossing, principal: principal)
        try conditions.check(etag: stored.info.etag, lastModifiedMillis: stored.info.lastModifiedMillis,
                             copySource: false)
        return stored
    }

    /// `key`'s newest version opened for `operation` (its data key unwrapped: through the bucket-key cache at home,
    /// released by J's key store for this one object across a border). A delete marker as the newest version
    /// answers `NoSuchKey` with its version id at home, and a plain `NoSuchKey` across a border.
    func open(_ record: BucketRecord, _ key: String, operation: ReadOperation, crossing: SovereigntyGate.Crossing?,
              principal: Principal) async throws -> StoredObject {
        let newest = try await store.newest(record.jurisdiction, bucket: record.name, key: key)
        guard let found = newest, !found.manifest.isTombstone else {
            if let crossing { try await gate.chargeMiss(crossing) }
            if crossing == nil, let marker = newest?.manifest, marker.isDeleteMarker {
                throw ObjectServiceError.deleteMarker(bucket: record.name, key: key, version: VersionName.name(marker),
                                                      byVersion: false)
            }
            throw ObjectServiceError.noSuchKey(bucket: record.name, key: key)
        }
        return try await open(record, found, operation: operation, crossing: crossing, principal: principal)
    }

    /// A located version opened for `operation`.
    func open(_ record: BucketRecord, _ found: ObjectStore.Located, operation: ReadOperation,
              crossing: SovereigntyGate.Crossing?, principal: Principal) async throws -> StoredObject {
        let located: ObjectStore.Located
        do {
            located = try await store.opened(found, jurisdiction: record.jurisdiction, tenant: record.tenant,
                                             operation: operation.rawValue, gateway: principal.gateway,
                                             grantID: crossing?.grantID, caller: principal.auditFields)
        } catch ObjectServiceError.keyReleaseRefused(let reason) {
            guard let crossing, let refusal = RefusalReason(rawValue: reason) else {
                throw ObjectServiceError.accessDenied("the key store of \(record.jurisdiction) refused the key")
            }
            throw try await gate.refusedRelease(crossing, reason: refusal)
        }
        var stored = StoredObject(located: located, jurisdiction: record.jurisdiction, store: store, gate: gate,
                                  crossing: crossing)
        // In a versioned bucket, an object from before versioning is its `null` version, and says so.
        if record.versioning != nil, stored.info.versionID == nil { stored.info.versionID = VersionName.null }
        return stored
    }

    /// Starts a PUT of `key`; the returned writer verifies the body against `expectations` and commits on `finish`.
    /// A write into another jurisdiction is allowed, but not a conditional one without a grant: its outcome would
    /// read the key (``checkConditionalWrite(_:_:_:condition:)``).
    public func putObject(_ principal: Principal, _ bucket: String, _ key: String, metadata: ObjectMetadata,
                          condition: WriteCondition?, expectations: PayloadExpectations,
                          lock request: ObjectLockRequest? = nil) async throws -> ObjectWriter {
        let (record, lease) = try admitWrite(principal, bucket)
        let objectLock = try lock(record, request, principal: principal)
        try await checkConditionalWrite(principal, record, key, condition: condition)
        let writer = try await store.writer(record.jurisdiction, tenant: record.tenant, bucket: record.name, key: key,
                                            metadata: metadata, condition: condition, expectations: expectations,
                                            gateway: principal.gateway, caller: principal.auditFields)
        writer.lease = lease
        writer.lock = objectLock
        return writer
    }

    /// A conditional write across a border is decided as a HeadObject of its key: `If-Match` and `If-None-Match`
    /// answer 412 or 200 by what the key holds, so without a grant they are refused like the read they amount to.
    func checkConditionalWrite(_ principal: Principal, _ record: BucketRecord, _ key: String,
                               condition: WriteCondition?) async throws {
        guard condition != nil else { return }
        try await gate.checkRead(principal, record, .headObject, key: key, conditionalWrite: true)
    }
}

/// An object version opened for reading: its view, and its bytes by range. Across a border every byte read is
/// counted against the grant first (a grant with a byte limit refuses the read before anything is sent).
public struct StoredObject: Sendable {
    public internal(set) var info: ObjectInfo
    let located: ObjectStore.Located
    let jurisdiction: Jurisdiction
    let store: ObjectStore
    let gate: SovereigntyGate
    let crossing: SovereigntyGate.Crossing?

    init(located: ObjectStore.Located, jurisdiction: Jurisdiction, store: ObjectStore, gate: SovereigntyGate,
         crossing: SovereigntyGate.Crossing?) {
        self.info = ObjectInfo(located.manifest)
        self.located = located
        self.jurisdiction = jurisdiction
        self.store = store
        self.gate = gate
        self.crossing = crossing
    }

    /// Starts reading `range`: counts its bytes under the grant of a cross-border read, then reads the first
    /// segment it touches whole (a segment no replica can serve fails here, before a response has begun).
    public func read(_ range: ClosedRange<Int64>) async throws -> ObjectRead {
        precondition(range.lowerBound >= 0 && range.upperBound < info.sizeBytes, "range outside the object")
        if let crossing { try await gate.charge(bytes: range.upperBound - range.lowerBound + 1, to: crossing) }
        let first = try await store.readFirstSegment(located, jurisdiction: jurisdiction, of: range)
        return ObjectRead(object: self, range: range, first: first)
    }
}

/// A range of an object being read: its first segment in hand, the rest streamed on demand.
public struct ObjectRead: Sendable {
    let object: StoredObject
    let range: ClosedRange<Int64>
    /// The range's first bytes, up to the end of the segment holding its start.
    public let first: ByteBuffer

    /// Whether `first` is the whole range.
    public var isComplete: Bool { range.lowerBound + Int64(first.readableBytes) > range.upperBound }

    /// Streams the rest of the range to `body`, a segment at a time.
    public func rest(into body: (ByteBuffer) async throws -> Void) async throws {
        let next = range.lowerBound + Int64(first.readableBytes)
        guard next <= range.upperBound else { return }
        try await object.store.read(object.located, jurisdiction: object.jurisdiction, range: next...range.upperBound,
                                    into: body)
    }

    /// Streams the whole range, the first segment included, to `body`.
    public func all(into body: (ByteBuffer) async throws -> Void) async throws {
        try await body(first)
        try await rest(into: body)
    }
}
