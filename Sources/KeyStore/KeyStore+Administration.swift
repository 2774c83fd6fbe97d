import Envelope
import ObjectModel

/// Key administration, done by ``administer(_:body:metadata:)`` for the jurisdiction's administrators: listing
/// versions, rotating the root or a tenant key, retiring old versions, destroying a tenant's keys.
extension KeyStore {
    public func keys(tenant: String?, metadata: RequestMetadata) async throws -> [KeyVersionInfo] {
        try withState(metadata) { state in describeKeys(state, tenant: tenant) }
    }

    func describeKeys(_ state: KeyState, tenant: String?) -> [KeyVersionInfo] {
            var result = [KeyVersionInfo]()
            if tenant == nil {
                for root in state.roots {
                    result.append(KeyVersionInfo(jurisdiction: jurisdiction, tenant: nil, version: root.version,
                                                 state: root.version == state.currentRoot.version ? .current : .active,
                                                 createdMillis: root.createdMillis))
                }
            }
            for (name, entry) in state.tenants.sorted(by: { $0.key < $1.key }) where tenant == nil || tenant == name {
                result += Self.describe(entry, name: name, jurisdiction: jurisdiction)
            }
            return result
    }

    static func describe(_ entry: KeyState.Tenant, name: String, jurisdiction: Jurisdiction) -> [KeyVersionInfo] {
        entry.versions.map { version in
            let state: KeyVersionState
            if entry.destroyedMillis != nil {
                state = .destroyed
            } else if version.version == entry.current?.version {
                state = .current
            } else if version.version < entry.minimumDecryptionVersion {
                state = .retired
            } else {
                state = .active
            }
            return KeyVersionInfo(jurisdiction: jurisdiction, tenant: name, version: version.version, state: state,
                                  createdMillis: entry.destroyedMillis ?? version.createdMillis)
        }
    }

    func rotate(_ state: inout KeyState, tenant: String?) throws -> KeyVersionInfo {
            let created = now()
            guard let tenant else {
                // A new root version: every tenant key version is re-wrapped under it, so older roots go.
                let root = try makeRoot(version: state.currentRoot.version + 1)
                let retiredRoots = state.roots
                for (name, entry) in state.tenants where entry.destroyedMillis == nil {
                    var updated = entry
                    for index in updated.versions.indices {
                        let version = updated.versions[index].version
                        let key = try tenantKey(state, name, version: version)
                        updated.versions[index].wrapped = try wrapUnderRoot(key, root, aad: tenantAAD(name, version: version))
                        updated.versions[index].rootVersion = root.version
                    }
                    state.tenants[name] = updated
                }
                state.roots = [root]
                // Old roots wrap nothing now; the token's copies go once the new state is on disk (next call).
                pendingDiscard.withLock { $0 += retiredRoots }
                return KeyVersionInfo(jurisdiction: jurisdiction, tenant: nil, version: root.version, state: .current,
                                      createdMillis: created)
            }
            try checkTenant(tenant)
            var entry = state.tenants[tenant] ?? KeyState.Tenant()
            if entry.destroyedMillis != nil { throw KeyStoreError.tenantKeyDestroyed(jurisdiction, tenant: tenant) }
            let version = (entry.current?.version ?? 0) + 1
            let root = state.currentRoot
            entry.versions.append(.init(version: version, createdMillis: created, rootVersion: root.version,
                                        wrapped: try wrapUnderRoot(SecretKey.random(), root,
                                                                   aad: tenantAAD(tenant, version: version))))
            state.tenants[tenant] = entry
            return KeyVersionInfo(jurisdiction: jurisdiction, tenant: tenant, version: version, state: .current,
                                  createdMillis: created)
    }

    func retire(_ state: inout KeyState, tenant: String, checked: CheckedKeyVersion?) throws -> [KeyVersionInfo] {
            guard var entry = state.tenants[tenant], let current = entry.current else {
                throw KeyStoreError.noTenantKey(jurisdiction, tenant: tenant)
            }
            if entry.destroyedMillis != nil { throw KeyStoreError.tenantKeyDestroyed(jurisdiction, tenant: tenant) }
            guard let checked, checked.tenant.utf8.elementsEqual(tenant.utf8) else {
                throw KeyStoreError.invalidRequest("a retirement needs the gateway's check that no stored data key "
                    + "of \(tenant) still depends on an older version")
            }
            let checkedVersion = checked.version
            guard checkedVersion == current.version else {
                throw KeyStoreError.invalidRequest("tenant \(tenant)'s key was rotated (v\(current.version)) since the "
                    + "gateway checked v\(checkedVersion): rewrap, then retire again")
            }
            entry.minimumDecryptionVersion = current.version
            state.tenants[tenant] = entry
            return Self.describe(entry, name: tenant, jurisdiction: jurisdiction)
    }

    func destroy(_ state: inout KeyState, tenant: String) {
            var entry = state.tenants[tenant] ?? KeyState.Tenant()
            guard entry.destroyedMillis == nil else { return }
            // The wrapped material goes; the version numbers stay so `key list` shows what was destroyed.
            for index in entry.versions.indices { entry.versions[index].wrapped = [] }
            entry.destroyedMillis = now()
            state.tenants[tenant] = entry
    }
}
