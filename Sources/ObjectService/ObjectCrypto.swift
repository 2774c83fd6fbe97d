import Envelope
import Hashing
import KeyStore
import ObjectModel
import Sovereignty
import StorageNode
import Synchronization

/// The gateway's side of envelope encryption: a fresh data key per object version, wrapped by a short-lived bucket
/// key that the jurisdiction's key store wraps with the tenant key (S3 Bucket Keys). Unwrapped bucket keys are
/// cached for ``Settings/bucketKeyLifetimeMillis``, so the key store is asked once per bucket key, not per object.
public final class ObjectCrypto: Sendable {
    public struct Settings: Sendable {
        /// False only for the bench-only plaintext setting: objects are then stored and read unencrypted.
        public var enabled: Bool
        /// Cipher of new objects, per jurisdiction (AES-256-GCM when absent).
        public var algorithms: [Jurisdiction: AEADAlgorithm]
        /// How long an unwrapped bucket key is used and kept.
        public var bucketKeyLifetimeMillis: Int64

        public init(enabled: Bool = true, algorithms: [Jurisdiction: AEADAlgorithm] = [:],
                    bucketKeyLifetimeMillis: Int64 = 300_000) {
            self.enabled = enabled
            self.algorithms = algorithms
            self.bucketKeyLifetimeMillis = bucketKeyLifetimeMillis
        }
    }

    struct CachedKey {
        let key: SecretKey
        let reference: BucketKeyReference
        let expiresMillis: Int64
    }

    /// Whose bucket key: a bucket's, as used by the gateways of one jurisdiction (`writer`). A gateway writing into
    /// another jurisdiction never uses the keys that jurisdiction's own gateways use, and the reverse.
    struct Slot: Hashable {
        let jurisdiction: Jurisdiction
        let tenant: String
        let bucket: String
        let writer: Jurisdiction
    }

    public let settings: Settings
    /// The key-store clients of each gateway jurisdiction G this process runs, by the key store's jurisdiction J:
    /// each speaks to J's store as G's gateway (a remote store knows G by G's own token; an in-process store takes
    /// the jurisdiction from the request's metadata, which only this process fills in).
    let clients: [Jurisdiction: [Jurisdiction: any KeyStoreClient]]
    let requester: String
    let now: @Sendable () -> Int64
    let writing = Mutex<[Slot: CachedKey]>([:])
    /// Where key events (a tenant key created, a key released across a border) are recorded; failing to record
    /// fails the operation.
    let audit: AuditTrail
    let reading = Mutex<[[UInt8]: (slot: Slot, cached: CachedKey)]>([:])
    /// Counts flushes: a bucket key generated while one happened is used for its write but not cached, so no key
    /// under a version a rotation or retirement left behind outlives the flush.
    let flushes = Atomic<UInt64>(0)

    /// `clients` holds, for each gateway jurisdiction this process runs, its client of every key store it uses;
    /// `requester` names this gateway process in key-store requests; key events go to `audit`.
    public init(settings: Settings, clients: [(gateway: Jurisdiction, client: any KeyStoreClient)], audit: AuditTrail,
                requester: String, now: @escaping @Sendable () -> Int64) {
        self.settings = settings
        var byGateway = [Jurisdiction: [Jurisdiction: any KeyStoreClient]]()
        for (gateway, client) in clients { byGateway[gateway, default: [:]][client.jurisdiction] = client }
        self.clients = byGateway
        self.audit = audit
        self.requester = requester
        self.now = now
    }

    func record(_ jurisdiction: Jurisdiction, _ fields: [String: String]) async throws {
        try await audit.record(jurisdiction, kind: "key", fields: fields)
    }

    func metadata(_ jurisdiction: Jurisdiction, _ operation: String, grantID: String? = nil) -> RequestMetadata {
        RequestMetadata(requester: requester, jurisdiction: jurisdiction, operation: operation,
                        requestID: Hex.encode(SecureRandom.bytes(8)), grantID: grantID)
    }

    /// J's key store and the metadata to ask it for checkpoints of the audit log of J this process keeps: as J's
    /// gateway when this process runs it, else as the first gateway of this process that has a client of J's store.
    func checkpointSigner(_ jurisdiction: Jurisdiction) throws -> (any KeyStoreClient, RequestMetadata) {
        let gateways = [jurisdiction] + clients.keys.filter { $0 != jurisdiction }.sorted { $0.code < $1.code }
        for gateway in gateways {
            if let client = clients[gateway]?[jurisdiction] {
                return (client, metadata(gateway, "audit checkpoint"))
            }
        }
        throw ObjectServiceError.keyStoreUnavailable("no key store of \(jurisdiction) is configured for this process")
    }

    /// The key store of `jurisdiction` as the gateway of `gateway` (its own jurisdiction's gateway when nil) sees it,
    /// under that gateway's identity and no other: without a client for that pair, the call fails.
    func keyStore(_ jurisdiction: Jurisdiction, as gateway: Jurisdiction? = nil) throws -> any KeyStoreClient {
        let gateway = gateway ?? jurisdiction
        guard let client = clients[gateway]?[jurisdiction] else {
            throw ObjectServiceError.keyStoreUnavailable("no key store of \(jurisdiction) is configured for the "
                + "gateway of \(gateway)")
        }
        return client
    }

    /// A cipher with a fresh data key for a new object version, or nil in the plaintext setting.
    ///
    /// `gateway` is where the write is served (the bucket's own jurisdiction when nil). A write from another
    /// jurisdiction G gets its bucket key from the bucket's key store under G's identity, recorded in the bucket
    /// jurisdiction's audit log as a key released across the border, and kept apart from the home gateways' keys.
    /// With `upload`, that key is made for the one multipart upload and marked as issued to G, so that the key
    /// store hands it back to G for the upload's parts and nothing else (``Sovereignty/decideKeyRelease``).
    public func newObject(_ binding: ObjectBinding, operation: String, gateway: Jurisdiction? = nil,
                          upload: Bool = false, caller: [String: String] = [:]) async throws -> ObjectCipher? {
        guard settings.enabled else { return nil }
        let writer = gateway ?? binding.jurisdiction
        let crossBorder = writer != binding.jurisdiction
        let dedicated = crossBorder && upload
        let slot = Slot(jurisdiction: binding.jurisdiction, tenant: binding.tenant, bucket: binding.bucket, writer: writer)
        let time = now()
        var bucketKey = dedicated ? nil : writing.withLock { cache -> CachedKey? in
            guard let entry = cache[slot], entry.expiresMillis > time else { return nil }
            return entry
        }
        if bucketKey == nil {
            let flushesBefore = flushes.load(ordering: .acquiring)
            let context = BucketKeyContext(bucket: binding.bucket, id: SecureRandom.bytes(BucketKeyReference.idSizeBytes),
                                           issuedTo: dedicated ? writer : nil)
            let generated = try await translate {
                try await keyStore(binding.jurisdiction, as: writer).generateDataKey(
                    tenant: binding.tenant, aad: context.encoded(), metadata: metadata(writer, operation))
            }
            if generated.createdTenantKey {
                try await record(binding.jurisdiction, caller.merging([
                    "event": "create", "tenant": binding.tenant, "version": String(generated.wrapped.tenantKeyVersion),
                ]) { $1 })
            }
            if crossBorder {
                try await record(binding.jurisdiction, caller.merging([
                    "event": "release", "tenant": binding.tenant, "bucket": binding.bucket, "key": binding.key,
                    "gateway": writer.code, "grant": "", "operation": operation,
                ]) { $1 })
            }
            let entry = CachedKey(key: generated.plaintext,
                                  reference: BucketKeyReference(tenantKeyVersion: generated.wrapped.tenantKeyVersion,
                                                                id: context.id, wrappedKey: generated.wrapped.bytes,
                                                                issuedTo: context.issuedTo),
                                  expiresMillis: time + settings.bucketKeyLifetimeMillis)
            if flushes.load(ordering: .acquiring) == flushesBefore {
                if !dedicated { writing.withLock { $0[slot] = entry } }
                if !crossBorder { reading.withLock { $0[context.id] = (slot, entry) } }
            }
            bucketKey = entry
        }
        return ObjectCipher.create(binding: binding, algorithm: settings.algorithms[binding.jurisdiction] ?? .aes256gcm,
                                   segmentSizeBytes: UInt32(Limits.segmentSizeBytes), bucketKey: bucketKey!.key,
                                   reference: bucketKey!.reference)
    }

    /// The cipher of a stored object (nil for a plaintext object in the plaintext setting). An object without an
    /// envelope is refused when encryption is on, and one whose envelope names another tenant or jurisdiction too.
    /// `gateway` is where the read is served (the bucket's own jurisdiction when nil); a cross-border read names
    /// the grant that allowed it, which the key store checks again.
    public func open(_ manifest: ObjectManifest, jurisdiction: Jurisdiction, tenant: String, operation: String,
                     gateway: Jurisdiction? = nil, grantID: String? = nil, caller: [String: String] = [:]) async throws
        -> ObjectCipher?
    {
        guard let bytes = manifest.envelope else {
            if settings.enabled {
                throw ObjectServiceError.integrity("\(manifest.key) is stored without encryption")
            }
            return nil
        }
        let header: EnvelopeHeader
        do {
            header = try EnvelopeHeader(decoding: bytes, bucket: manifest.bucket, key: manifest.key)
        } catch {
            throw ObjectServiceError.integrity("\(manifest.key): \(error)")
        }
        guard header.binding.jurisdiction == jurisdiction, header.binding.tenant == tenant else {
            // Not named: the other tenant is none of this caller's business.
            throw ObjectServiceError.integrity("\(manifest.key) is bound to another tenant's key")
        }
        let gateway = gateway ?? jurisdiction
        do {
            guard gateway == jurisdiction else {
                let released = try await releaseDataKey(header, operation: operation, gateway: gateway,
                                                        grantID: grantID, caller: caller)
                // A HeadObject across a border gets the metadata key alone.
                guard operation != ReadOperation.headObject.rawValue else {
                    return ObjectCipher.open(header, metadataKey: released)
                }
                return try ObjectCipher.open(header, dataKey: released)
            }
            return try ObjectCipher.open(header, bucketKey: try await unwrapBucketKey(header, operation: operation))
        } catch let error as EnvelopeError {
            throw ObjectServiceError.integrity("\(manifest.key): \(error)")
        }
    }

    /// The bucket key of a stored object, for a gateway of the object's own jurisdiction: from the cache, or unwrapped
    /// by the key store (and cached).
    func unwrapBucketKey(_ header: EnvelopeHeader, operation: String) async throws -> SecretKey {
        let time = now()
        let reference = header.bucketKey
        let jurisdiction = header.binding.jurisdiction
        let slot = Slot(jurisdiction: jurisdiction, tenant: header.binding.tenant, bucket: header.binding.bucket,
                        writer: jurisdiction)
        if let hit = reading.withLock({ cache -> SecretKey? in
            // Keyed by the bucket key's id, which its wrapping binds; the data key's own wrap still authenticates.
            guard let entry = cache[reference.id], entry.slot == slot, entry.cached.expiresMillis > time else { return nil }
            return entry.cached.key
        }) {
            return hit
        }
        let key = try await translate {
            try await keyStore(jurisdiction).decrypt(
                tenant: header.binding.tenant,
                wrapped: WrappedKey(tenantKeyVersion: reference.tenantKeyVersion, bytes: reference.wrappedKey),
                aad: reference.context(bucket: header.binding.bucket).encoded(),
                metadata: metadata(jurisdiction, operation))
        }
        reading.withLock {
            $0[reference.id] = (slot, CachedKey(key: key, reference: reference,
                                                expiresMillis: time + settings.bucketKeyLifetimeMillis))
        }
        return key
    }

    /// The data key of one stored object, for a gateway of another jurisdiction: the object's key store unwraps it
    /// and releases that key alone, after checking the grant (or, for an upload this gateway's jurisdiction started,
    /// that the key was issued to it). Never cached: a revocation takes effect at once. Recorded as a release.
    func releaseDataKey(_ header: EnvelopeHeader, operation: String, gateway: Jurisdiction, grantID: String?,
                        caller: [String: String]) async throws -> SecretKey
    {
        let reference = header.bucketKey
        let binding = header.binding
        if Sovereignty.uploadOperations.contains(operation), reference.issuedTo != gateway {
            throw ObjectServiceError.noSuchUpload(binding.version.description)
        }
        let release = DataKeyRelease(
            tenant: binding.tenant,
            bucketKey: WrappedKey(tenantKeyVersion: reference.tenantKeyVersion, bytes: reference.wrappedKey),
            bucketKeyContext: reference.context(bucket: binding.bucket).encoded(),
            wrappedDataKey: header.wrappedDataKey, bucket: binding.bucket, key: binding.key,
            version: binding.version.bytes, salt: header.salt)
        let key = try await translate {
            try await keyStore(binding.jurisdiction, as: gateway).releaseDataKey(
                release, metadata: metadata(gateway, operation, grantID: grantID))
        }
        try await record(binding.jurisdiction, caller.merging([
            "event": "release", "tenant": binding.tenant, "bucket": binding.bucket, "key": binding.key,
            "gateway": gateway.code, "grant": grantID ?? "", "operation": operation,
        ]) { $1 })
        return key
    }

    /// Drops cached bucket keys of `tenant` (every tenant when nil) in `jurisdiction`: after a rotation new writes
    /// take a bucket key under the new version at once; after a destroy or retire nothing cached outlives it.
    public func flush(_ jurisdiction: Jurisdiction, tenant: String?) {
        flushes.add(1, ordering: .releasing)
        let matches = { (slot: Slot) in slot.jurisdiction == jurisdiction && (tenant == nil || slot.tenant == tenant) }
        writing.withLock { cache in cache = cache.filter { !matches($0.key) } }
        reading.withLock { cache in cache = cache.filter { !matches($0.value.slot) } }
    }

    /// Seals the object's metadata into `manifest`, bound to what the manifest says in clear.
    static func sealMetadata(_ metadata: ObjectMetadata, into manifest: inout ObjectManifest, cipher: ObjectCipher) {
        manifest.metadata = ObjectMetadata()
        manifest.envelope = cipher.header.encoded()
        manifest.sealedMetadata = cipher.sealMetadata(metadata.encoded(), aad: metadataAAD(manifest))
    }

    /// The metadata sealed in `manifest`; fails when it or the fields it is bound to were altered.
    static func openMetadata(_ manifest: ObjectManifest, cipher: ObjectCipher) throws -> ObjectMetadata {
        guard let sealed = manifest.sealedMetadata else {
            throw ObjectServiceError.integrity("\(manifest.key) has an envelope but no sealed metadata")
        }
        do {
            return try ObjectMetadata(decoding: try cipher.openMetadata(sealed, aad: metadataAAD(manifest)))
        } catch {
            throw ObjectServiceError.integrity("\(manifest.key): \(error)")
        }
    }

    /// What sealed metadata is bound to: the version and everything a reader trusts about the object's bytes
    /// (size, segment size, ETag, checksum, parts), so editing the manifest is detected.
    static func metadataAAD(_ manifest: ObjectManifest) -> [UInt8] {
        var writer = BinaryWriter(capacity: 128 + manifest.parts.count * 64)
        writer.writeString("qantara/v1/metadata")
        writer.writeRaw(manifest.versionID.bytes)
        writer.write(manifest.sizeBytes)
        writer.write(manifest.segmentSizeBytes)
        writer.writeString(manifest.etag)
        writer.writeOptional(manifest.checksumAlgorithm)
        writer.writeOptional(manifest.checksumValue)
        writer.write(UInt32(manifest.parts.count))
        for part in manifest.parts {
            writer.write(part.number)
            writer.writeRaw(part.versionID.bytes)
            writer.write(part.sizeBytes)
            writer.writeString(part.etag)
            writer.writeOptional(part.checksumValue)
        }
        return writer.bytes
    }

    /// Runs a key-store call, turning its errors into the object service's.
    func translate<R>(_ body: () async throws -> R) async throws -> R {
        do {
            return try await body()
        } catch let error as KeyStoreError {
            switch error {
            case .tenantKeyDestroyed, .versionRetired, .noTenantKey, .unknownVersion:
                throw ObjectServiceError.keyUnavailable(error.description)
            case .grantRefused:
                if let reason = error.refusalReason { throw ObjectServiceError.keyReleaseRefused(reason: reason.rawValue) }
                throw ObjectServiceError.accessDenied(error.description)
            case .wrongJurisdiction, .notAuthority:
                throw ObjectServiceError.accessDenied(error.description)
            case .sealed, .unavailable, .wrongUnsealSecret:
                throw ObjectServiceError.keyStoreUnavailable(error.description)
            case .invalidRequest(let message):
                throw ObjectServiceError.invalidArgument(message)
            case .wrappedKeyRejected, .corrupt:
                throw ObjectServiceError.integrity(error.description)
            }
        }
    }
}
