import Envelope
import Hashing
import KeyStore
import ObjectModel
import StorageNode

/// What key administration needs of the stored objects: their envelopes, visited page by page (to count the data
/// keys that still depend on a key version, and for rewrap jobs).
extension ObjectService {
    func adminMetadata(_ jurisdiction: Jurisdiction, _ operation: String) -> RequestMetadata {
        RequestMetadata(requester: "admin", jurisdiction: jurisdiction, operation: operation,
                        requestID: Hex.encode(SecureRandom.bytes(8)))
    }

    /// Throws `UnknownJurisdiction` unless `jurisdiction` is one of the deployment's.
    public func requireJurisdiction(_ jurisdiction: Jurisdiction) throws {
        guard store.topology.nodes(of: jurisdiction) == nil else { return }
        throw ObjectServiceError.unknownJurisdiction(jurisdiction, known: store.topology.jurisdictions.map(\.code))
    }

    func keyStore(_ jurisdiction: Jurisdiction) throws -> any KeyStoreClient {
        try requireJurisdiction(jurisdiction)
        return try store.crypto.keyStore(jurisdiction)
    }

    /// Key versions of every jurisdiction (or one), of every tenant (or one), as the gateways of each see them.
    func keys(jurisdiction: Jurisdiction?, tenant: String?) async throws -> [KeyVersionInfo] {
        var result = [KeyVersionInfo]()
        for code in jurisdiction.map({ [$0] }) ?? store.topology.jurisdictions.map(\.code) {
            result += try await store.crypto.translate {
                try await keyStore(code).keys(tenant: tenant, metadata: adminMetadata(code, "key list"))
            }
        }
        return result
    }

    /// Buckets whose data keys a job over (jurisdiction, tenant) visits, in name order.
    func bucketNames(_ jurisdiction: Jurisdiction, tenant: String?) -> [String] {
        control.allBuckets().filter { $0.jurisdiction == jurisdiction && (tenant == nil || $0.tenant == tenant) }
            .map(\.name).sorted()
    }

    /// Visits every stored object version (current and noncurrent: an older version is as much data under the
    /// tenant's key as the latest) and upload envelope of the buckets, page by page, from after version
    /// `afterVersion` of key `after` in the first (after the whole key without a version).
    func forEachEnvelope(_ jurisdiction: Jurisdiction, buckets: ArraySlice<String>, after: String?,
                         afterVersion: String? = nil, pageSize: Int = 1000,
                         page: (_ bucket: String, _ manifests: [ObjectManifest], _ uploads: Bool) async throws -> Void)
        async throws
    {
        var marker = after.map { (key: $0, version: afterVersion) }
        for bucket in buckets {
            while true {
                let listed = try await store.listVersions(jurisdiction, bucket: bucket, VersionListRequest(
                    keyMarker: marker?.key, versionIDMarker: marker?.version, maxKeys: pageSize))
                try await page(bucket, listed.versions.map(\.manifest), false)
                guard listed.isTruncated, let key = listed.nextKeyMarker else { break }
                marker = (key, listed.nextVersionIDMarker)
            }
            marker = nil
            var marker: (key: String, upload: String)?
            while true {
                let uploads = try await store.listUploads(jurisdiction, bucket: bucket, prefix: "", delimiter: nil,
                                                          keyMarker: marker?.key, uploadMarker: marker?.upload,
                                                          limit: pageSize)
                try await page(bucket, uploads.uploads, true)
                guard uploads.isTruncated, let last = uploads.uploads.last else { break }
                marker = (last.key, last.versionID.description)
            }
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
