import Envelope
import ObjectModel

/// Everything a key store keeps, encoded inside its sealed file (format version 7, `Docs/formats.md`; version 6 had
/// no node key bindings, version 5 no certificate revocations, version 4 no audit-log checkpoints, version 3 no administrators, quorum or pending approvals, version 2 no grant usage, version 1 no authority key, grants or
/// revocations; all are still read).
struct KeyState {
    static let formatVersion: UInt8 = 7
    /// Approvals an irreversible act needs by default (dual control).
    static let quorumDefault = 2

    /// The jurisdiction's authority key: signs sovereignty grants and audit-log heads.
    struct Authority {
        var version: UInt32
        var createdMillis: Int64
        /// libsodium Ed25519 secret key (seed and public key).
        var secret: SecretKey
    }

    /// A grant this authority issued, when it was revoked, and how much of its limits gateways have used.
    struct GrantRecord {
        var compact: String
        var revokedMillis: Int64?
        var usedRequests: Int64 = 0
        var usedBytes: Int64 = 0
    }

    struct RootVersion {
        var version: UInt32
        var createdMillis: Int64
        /// The key itself (built-in backend); nil when it lives in a PKCS#11 token.
        var material: SecretKey?
    }

    struct TenantVersion {
        var version: UInt32
        var createdMillis: Int64
        /// Root key version wrapping ``wrapped``.
        var rootVersion: UInt32
        var wrapped: [UInt8]
    }

    struct Tenant {
        var versions: [TenantVersion] = []
        var minimumDecryptionVersion: UInt32 = 1
        var destroyedMillis: Int64?
        var current: TenantVersion? { versions.last }
    }

    /// An administrator of the jurisdiction: an identity of its own, whose secret (SigV4) only this store keeps.
    struct Administrator {
        var id: String
        var name: String
        var secret: String
        var createdMillis: Int64
    }

    /// An irreversible act that waits for approvals: the action as signed by its requester, and who agreed.
    struct Pending {
        var id: String
        /// The action, JSON-encoded.
        var action: [UInt8]
        var requestedBy: String
        var approvals: [String]
        var createdMillis: Int64
        var expiresMillis: Int64
    }

    var jurisdiction: Jurisdiction
    var roots: [RootVersion] = []
    var tenants: [String: Tenant] = [:]
    var authorities: [Authority] = []
    /// Grants by id, in issue order.
    var grants: [(id: String, record: GrantRecord)] = []
    var administrators: [Administrator] = []
    /// Distinct administrators who must agree to an irreversible act.
    var quorum = KeyState.quorumDefault
    var pending: [Pending] = []
    /// The newest checkpoint the authority signed of each audit log (origin → serialized signed note): the next one
    /// is signed only as a proven consistent extension of it.
    var checkpoints: [String: String] = [:]
    /// Certificates the authority revoked.
    var revocations: [Revocation] = []

    struct Revocation {
        var serial: String
        var revokedMillis: Int64
        var reason: String
    }

    /// The key each node id was certified with (node id → SHA-256 of the key, hex, and the newest certificate's
    /// serial): a node id gets a certificate for another key only once that certificate is revoked.
    var nodeKeys: [String: (fingerprint: String, serial: String)] = [:]

    var currentRoot: RootVersion { roots.last! }

    func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 256)
        writer.write(Self.formatVersion)
        writer.writeString(jurisdiction.code)
        writer.write(UInt32(roots.count))
        for root in roots {
            writer.write(root.version)
            writer.write(root.createdMillis)
            if let material = root.material { material.withBytes { writer.writeField($0) } } else { writer.writeField([UInt8]()) }
        }
        writer.write(UInt32(tenants.count))
        for (name, tenant) in tenants.sorted(by: { $0.key < $1.key }) {
            writer.writeString(name)
            writer.write(tenant.minimumDecryptionVersion)
            writer.write(tenant.destroyedMillis ?? -1)
            writer.write(UInt32(tenant.versions.count))
            for version in tenant.versions {
                writer.write(version.version)
                writer.write(version.createdMillis)
                writer.write(version.rootVersion)
                writer.writeField(version.wrapped)
            }
        }
        writer.write(UInt32(authorities.count))
        for authority in authorities {
            writer.write(authority.version)
            writer.write(authority.createdMillis)
            authority.secret.withBytes { writer.writeField($0) }
        }
        writer.write(UInt32(grants.count))
        for (id, record) in grants {
            writer.writeString(id)
            writer.writeString(record.compact)
            writer.write(record.revokedMillis ?? -1)
            writer.write(record.usedRequests)
            writer.write(record.usedBytes)
        }
        writer.write(UInt32(administrators.count))
        for administrator in administrators {
            writer.writeString(administrator.id)
            writer.writeString(administrator.name)
            writer.writeString(administrator.secret)
            writer.write(administrator.createdMillis)
        }
        writer.write(UInt32(quorum))
        writer.write(UInt32(pending.count))
        for request in pending {
            writer.writeString(request.id)
            writer.writeField(request.action)
            writer.writeString(request.requestedBy)
            writer.write(UInt32(request.approvals.count))
            for approval in request.approvals { writer.writeString(approval) }
            writer.write(request.createdMillis)
            writer.write(request.expiresMillis)
        }
        writer.write(UInt32(checkpoints.count))
        for (origin, note) in checkpoints.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            writer.writeString(origin)
            writer.writeString(note)
        }
        writer.write(UInt32(revocations.count))
        for revocation in revocations {
            writer.writeString(revocation.serial)
            writer.write(revocation.revokedMillis)
            writer.writeString(revocation.reason)
        }
        writer.write(UInt32(nodeKeys.count))
        for (node, binding) in nodeKeys.sorted(by: { $0.key < $1.key }) {
            writer.writeString(node)
            writer.writeString(binding.fingerprint)
            writer.writeString(binding.serial)
        }
        return writer.bytes
    }

    init(jurisdiction: Jurisdiction) { self.jurisdiction = jurisdiction }

    init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        do {
            let version = try reader.readUInt8()
            guard (1...Self.formatVersion).contains(version) else {
                throw KeyStoreError.corrupt("key state version \(version)")
            }
            guard let jurisdiction = Jurisdiction(try reader.readString()) else {
                throw KeyStoreError.corrupt("key state jurisdiction")
            }
            self.jurisdiction = jurisdiction
            for _ in 0..<(try reader.readUInt32()) {
                let version = try reader.readUInt32(), created = try reader.readInt64()
                var material = try reader.readField()
                roots.append(RootVersion(version: version, createdMillis: created,
                                         material: material.isEmpty ? nil : SecretKey(copying: material)))
                wipe(&material)
            }
            for _ in 0..<(try reader.readUInt32()) {
                let name = try reader.readString()
                var tenant = Tenant()
                tenant.minimumDecryptionVersion = try reader.readUInt32()
                let destroyed = try reader.readInt64()
                tenant.destroyedMillis = destroyed < 0 ? nil : destroyed
                for _ in 0..<(try reader.readUInt32()) {
                    tenant.versions.append(TenantVersion(version: try reader.readUInt32(), createdMillis: try reader.readInt64(),
                                                         rootVersion: try reader.readUInt32(), wrapped: try reader.readField()))
                }
                tenants[name] = tenant
            }
            if version >= 2 {
                for _ in 0..<(try reader.readUInt32()) {
                    let number = try reader.readUInt32(), created = try reader.readInt64()
                    var secret = try reader.readField()
                    authorities.append(Authority(version: number, createdMillis: created, secret: SecretKey(copying: secret)))
                    wipe(&secret)
                }
                for _ in 0..<(try reader.readUInt32()) {
                    let id = try reader.readString(), compact = try reader.readString(), revoked = try reader.readInt64()
                    var record = GrantRecord(compact: compact, revokedMillis: revoked < 0 ? nil : revoked)
                    if version >= 3 {
                        record.usedRequests = try reader.readInt64()
                        record.usedBytes = try reader.readInt64()
                    }
                    grants.append((id, record))
                }
            }
            if version >= 4 {
                for _ in 0..<(try reader.readUInt32()) {
                    administrators.append(Administrator(id: try reader.readString(), name: try reader.readString(),
                                                        secret: try reader.readString(),
                                                        createdMillis: try reader.readInt64()))
                }
                quorum = Int(try reader.readUInt32())
                for _ in 0..<(try reader.readUInt32()) {
                    let id = try reader.readString(), action = try reader.readField()
                    let requestedBy = try reader.readString()
                    var approvals = [String]()
                    for _ in 0..<(try reader.readUInt32()) { approvals.append(try reader.readString()) }
                    pending.append(Pending(id: id, action: action, requestedBy: requestedBy, approvals: approvals,
                                           createdMillis: try reader.readInt64(), expiresMillis: try reader.readInt64()))
                }
            }
            if version >= 5 {
                for _ in 0..<(try reader.readUInt32()) {
                    let origin = try reader.readString()
                    checkpoints[origin] = try reader.readString()
                }
            }
            if version >= 6 {
                for _ in 0..<(try reader.readUInt32()) {
                    revocations.append(Revocation(serial: try reader.readString(), revokedMillis: try reader.readInt64(),
                                                  reason: try reader.readString()))
                }
            }
            if version >= 7 {
                for _ in 0..<(try reader.readUInt32()) {
                    let node = try reader.readString()
                    nodeKeys[node] = (try reader.readString(), try reader.readString())
                }
            }
            guard reader.isAtEnd, !roots.isEmpty else { throw KeyStoreError.corrupt("key state is incomplete") }
        } catch let error as FormatError {
            throw KeyStoreError.corrupt("key state: \(error)")
        }
    }
}
