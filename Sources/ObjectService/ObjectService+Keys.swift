import Envelope
import Hashing
import KeyStore
import ObjectModel
import StorageNode

/// Key administration behind the admin API: list, rotate, retire and destroy through each jurisdiction's key store,
/// and the rewrap jobs that move stored data keys to the current tenant key version without touching object bytes.
extension ObjectService {
    /// Metadata of an administrator's request to `jurisdiction`'s key store.
    public func adminRequest(_ jurisdiction: Jurisdiction, _ operation: String) -> RequestMetadata {
        adminMetadata(jurisdiction, operation)
    }

    func adminMetadata(_ jurisdiction: Jurisdiction, _ operation: String) -> RequestMetadata {
        RequestMetadata(requester: "admin", jurisdiction: jurisdiction, operation: operation,
                        requestID: Hex.encode(SecureRandom.bytes(8)))
    }

    func keyStore(_ jurisdiction: Jurisdiction) throws -> any KeyStoreClient {
        guard store.topology.nodes(of: jurisdiction) != nil else {
            throw ObjectServiceError.invalidArgument("jurisdiction \(jurisdiction) is not in the topology")
        }
        return try store.crypto.keyStore(jurisdiction)
    }

    /// Key versions of every jurisdiction (or one), of every tenant (or one).
    public func keys(jurisdiction: Jurisdiction?, tenant: String?) async throws -> [KeyVersionInfo] {
        var result = [KeyVersionInfo]()
        for code in jurisdiction.map({ [$0] }) ?? store.topology.jurisdictions.map(\.code) {
            result += try await store.crypto.translate {
                try await keyStore(code).keys(tenant: tenant, metadata: adminMetadata(code, "key list"))
            }
        }
        return result
    }

    /// A new version of the root key (tenant nil) or of a tenant's key; new writes use it at once.
    public func rotateKey(jurisdiction: Jurisdiction, tenant: String?) async throws -> KeyVersionInfo {
        let info = try await store.crypto.translate {
            try await keyStore(jurisdiction).rotate(tenant: tenant, metadata: adminMetadata(jurisdiction, "key rotate"))
        }
        store.crypto.flush(jurisdiction, tenant: tenant)
        logger.notice("key rotated", metadata: ["jurisdiction": "\(jurisdiction)", "tenant": "\(tenant ?? "(root)")",
                                                "version": "\(info.version)"])
        return info
    }

    /// Refuses decryption with older versions of the tenant's key, once no stored data key depends on them.
    public func retireKey(jurisdiction: Jurisdiction, tenant: String) async throws -> [KeyVersionInfo] {
        let versions = try await keys(jurisdiction: jurisdiction, tenant: tenant)
        guard let current = versions.first(where: { $0.state == .current }) else {
            throw ObjectServiceError.keyUnavailable("tenant \(tenant) has no usable key in \(jurisdiction)")
        }
        let dependent = try await countEnvelopes(jurisdiction, tenant: tenant) { $0.tenantKeyVersion < current.version }
        guard dependent == 0 else {
            throw ObjectServiceError.preconditionFailed("\(dependent) stored data key(s) of tenant \(tenant) in "
                + "\(jurisdiction) still depend on versions older than \(current.version): run `qantara key rewrap` first")
        }
        let result = try await store.crypto.translate {
            try await keyStore(jurisdiction).retire(tenant: tenant, metadata: adminMetadata(jurisdiction, "key retire"))
        }
        store.crypto.flush(jurisdiction, tenant: tenant)
        logger.notice("key versions retired", metadata: ["jurisdiction": "\(jurisdiction)", "tenant": "\(tenant)",
                                                         "minimum": "\(current.version)"])
        return result
    }

    /// Destroys every version of the tenant's key in the jurisdiction: its objects there can never be read again.
    public func destroyKey(jurisdiction: Jurisdiction, tenant: String) async throws {
        try await store.crypto.translate {
            try await keyStore(jurisdiction).destroy(tenant: tenant, metadata: adminMetadata(jurisdiction, "key destroy"))
        }
        store.crypto.flush(jurisdiction, tenant: tenant)
        logger.notice("tenant key destroyed (crypto-shred)", metadata: ["jurisdiction": "\(jurisdiction)",
                                                                        "tenant": "\(tenant)"])
    }

    /// Buckets whose data keys a job over (jurisdiction, tenant) visits, in name order.
    func bucketNames(_ jurisdiction: Jurisdiction, tenant: String?) -> [String] {
        control.allBuckets().filter { $0.jurisdiction == jurisdiction && (tenant == nil || $0.tenant == tenant) }
            .map(\.name).sorted()
    }

    /// Visits every stored object and upload envelope of the buckets, page by page, from `after` in the first.
    func forEachEnvelope(_ jurisdiction: Jurisdiction, buckets: ArraySlice<String>, after: String?,
                         pageSize: Int = 1000,
                         page: (_ bucket: String, _ manifests: [ObjectManifest], _ uploads: Bool) async throws -> Void)
        async throws
    {
        var startAfter = after
        for bucket in buckets {
            while true {
                let listed = try await store.list(jurisdiction, bucket: bucket,
                                                  ListRequest(startAfter: startAfter, maxKeys: pageSize))
                try await page(bucket, listed.objects, false)
                guard listed.isTruncated, let last = listed.last else { break }
                startAfter = last
            }
            startAfter = nil
            let uploads = try await store.listUploads(jurisdiction, bucket: bucket, prefix: "", delimiter: nil,
                                                      keyMarker: nil, uploadMarker: nil, limit: 100_000)
            try await page(bucket, uploads.uploads, true)
        }
    }

    /// Number of stored envelopes of `tenant` in `jurisdiction` whose bucket key reference matches `predicate`.
    func countEnvelopes(_ jurisdiction: Jurisdiction, tenant: String,
                        where predicate: (BucketKeyReference) -> Bool) async throws -> Int {
        var count = 0
        try await forEachEnvelope(jurisdiction, buckets: ArraySlice(bucketNames(jurisdiction, tenant: tenant)),
                                  after: nil) { _, manifests, _ in
            for manifest in manifests {
                guard let bytes = manifest.envelope,
                      let header = try? EnvelopeHeader(decoding: bytes, bucket: manifest.bucket, key: manifest.key),
                      header.binding.tenant == tenant else { continue }
                if predicate(header.bucketKey) { count += 1 }
            }
        }
        return count
    }
}
