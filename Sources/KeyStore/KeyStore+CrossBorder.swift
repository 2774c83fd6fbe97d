import Envelope
import ObjectModel
import Sovereignty

/// The bucket's jurisdiction decides its cross-border reads itself: a gateway of another jurisdiction asks J's key
/// store, which applies the sovereignty rule to the grants and revocations it keeps (never a copy fed over some other
/// channel), and, for a read that opens an object, unwraps that one object's data key and releases only it.
extension KeyStore {
    /// A read of one of this jurisdiction's buckets through a gateway of the requester's jurisdiction: granted (with
    /// the grant's id) or refused (with the reason), by ``Sovereignty/decide(_:bucketJurisdiction:grants:authorities:revoked:usage:nowSeconds:)``
    /// over this store's grants. A grant with a request limit counts now a read that releases no key (a listing,
    /// decided by the operation here, not by the caller's word; a conditional write, `countsRequest`); an object
    /// read is counted when its key is released.
    public func decideRead(_ read: CrossBorderRead, metadata: RequestMetadata) async throws -> CrossBorderVerdict {
        try checkTenant(read.tenant)
        let request = SovereigntyRequest(kind: .read(read.operation), tenant: read.tenant, bucket: read.bucket,
                                         key: read.key, prefix: read.prefix, gateway: metadata.jurisdiction)
        return try withState(metadata, anyJurisdiction: true) { state, changed in
            let decision = Sovereignty.decide(request, bucketJurisdiction: jurisdiction, grants: signedGrants(state),
                                              authorities: authorityMap(state), revoked: revokedGrants(state),
                                              usage: grantUsage(state), nowSeconds: now() / 1000)
            switch decision {
            case .sameJurisdiction, .writeInto:
                return CrossBorderVerdict(grantID: nil, refusal: nil, limitsBytes: false)
            case .refused(let reason, let grantID):
                return CrossBorderVerdict(grantID: grantID, refusal: reason, limitsBytes: false)
            case .granted(let grantID):
                guard let index = state.grants.firstIndex(where: { $0.id == grantID }) else {
                    throw KeyStoreError.corrupt("grant \(grantID) decided but not kept")
                }
                let grant = try verifiedGrant(state, index)
                if read.countsRequest || !read.operation.releasesKey, grant.maxRequests != nil {
                    do {
                        try charge(&state.grants[index].record, grant, requests: 1, bytes: 0, metadata: metadata)
                    } catch let error as KeyStoreError where error.refusalReason != nil {
                        return CrossBorderVerdict(grantID: grantID, refusal: error.refusalReason, limitsBytes: false)
                    }
                    changed = true
                }
                return CrossBorderVerdict(grantID: grantID, refusal: nil, limitsBytes: grant.maxBytes != nil,
                                          limitsRequests: grant.maxRequests != nil)
            }
        }
    }

    /// Unwraps one object's data key and releases it: to a requester of this jurisdiction, or of another one under
    /// the grant its request names, which must cover the operation, the tenant, the bucket and the object's key (all
    /// three authenticated here by the keys' wrappings, not taken from the caller), be valid now, not revoked, and
    /// within its limits (the release counts one request). A key made for a multipart upload started from the
    /// requester's jurisdiction goes back to it for the upload's parts and completion without a grant. For a
    /// HeadObject only the metadata key (derived from the data key and the envelope's `salt`) is released: it opens
    /// the object's metadata, not its content.
    public func releaseDataKey(_ release: DataKeyRelease, metadata: RequestMetadata) async throws -> SecretKey {
        try checkTenant(release.tenant)
        guard let context = BucketKeyContext(decoding: release.bucketKeyContext),
              context.bucket.utf8.elementsEqual(release.bucket.utf8) else {
            throw KeyStoreError.invalidRequest("the bucket key's context does not name bucket \(release.bucket)")
        }
        guard let version = VersionID(bytes: release.version) else {
            throw KeyStoreError.invalidRequest("a version id has 16 bytes")
        }
        let binding = ObjectBinding(jurisdiction: jurisdiction, tenant: release.tenant, bucket: release.bucket,
                                    key: release.key, version: version)
        return try withState(metadata, anyJurisdiction: true) { state, changed in
            let bucketKey = try open(state, tenant: release.tenant, wrapped: release.bucketKey,
                                     aad: release.bucketKeyContext)
            let dataKey: SecretKey
            do {
                dataKey = try KeyWrap.unwrap(release.wrappedDataKey, under: bucketKey,
                                             aad: ObjectCipher.dataKeyAAD(binding))
            } catch {
                throw KeyStoreError.wrappedKeyRejected(jurisdiction, tenant: release.tenant)
            }
            // From here the bucket and key are the object's own: its data key opened bound to them.
            let decision = Sovereignty.decideKeyRelease(
                grantID: metadata.grantID, tenant: release.tenant, bucket: release.bucket, key: release.key,
                operation: metadata.operation, requester: metadata.jurisdiction, issuer: jurisdiction,
                issuedTo: context.issuedTo, grants: signedGrants(state), authorities: authorityMap(state),
                revoked: revokedGrants(state), usage: grantUsage(state), nowSeconds: now() / 1000)
            switch decision {
            case .sameJurisdiction, .writeInto:
                break
            case .refused(let reason, let grantID):
                throw KeyStoreError.grantRefused(jurisdiction, metadata, reason, grantID: grantID)
            case .granted(let grantID):
                guard let index = state.grants.firstIndex(where: { $0.id == grantID }) else {
                    throw KeyStoreError.corrupt("grant \(grantID) decided but not kept")
                }
                let grant = try verifiedGrant(state, index)
                if grant.maxRequests != nil {
                    try charge(&state.grants[index].record, grant, requests: 1, bytes: 0, metadata: metadata)
                    changed = true
                }
            }
            guard metadata.operation != ReadOperation.headObject.rawValue else {
                guard let salt = release.salt, !salt.isEmpty else {
                    throw KeyStoreError.invalidRequest("a HeadObject's release names the envelope's salt")
                }
                return ObjectCipher.metadataKey(dataKey: dataKey, salt: salt)
            }
            return dataKey
        }
    }

    func signedGrants(_ state: KeyState) -> [SignedGrant] { state.grants.map { SignedGrant(compact: $0.record.compact) } }

    func revokedGrants(_ state: KeyState) -> Set<String> {
        Set(state.grants.filter { $0.record.revokedMillis != nil }.map(\.id))
    }

    func grantUsage(_ state: KeyState) -> [String: GrantUsage] {
        var usage = [String: GrantUsage]()
        for (id, record) in state.grants where record.usedRequests > 0 || record.usedBytes > 0 {
            usage[id] = GrantUsage(bytes: record.usedBytes, requests: record.usedRequests)
        }
        return usage
    }
}
