import Foundation
import Hashing
import KeyStore
import Logging
import ObjectModel
import Sovereignty
import StorageNode

/// Location attestations through the one door: a read of the object's metadata (across a border, only under a grant
/// covering HeadObject on the key), audited, answered with each replica's own statement signed by its node.
extension ObjectService {
    /// A location attestation of `key`'s newest version: every node holding it reads its copy now and signs what it
    /// holds (SHA-256 of the stored ciphertext, custody of the key, the replica set, the nonce and the time) with its
    /// certified key; the jurisdiction's latest audit-log checkpoint comes with them. A replica that cannot attest is
    /// left out, which verification reports (every statement names the whole replica set).
    /// With `versionID`, of that version (a noncurrent version under retention is as much the regulator's concern).
    public func attest(_ principal: Principal, _ bucket: String, _ key: String, versionID: String? = nil, nonce: String,
                       since: UInt64? = nil) async throws -> LocationAttestation
    {
        let record = try resolve(principal, bucket)
        let crossing = try await gate.checkRead(principal, record, .headObject, key: key)
        // Each attestation reads and hashes every replica's whole copy: a few at a time per gateway.
        guard attestationsInFlight.add(1, ordering: .relaxed).newValue <= Limits.attestationsInFlightMax else {
            attestationsInFlight.subtract(1, ordering: .relaxed)
            throw ObjectServiceError.serviceUnavailable("too many attestations at once; retry shortly")
        }
        defer { attestationsInFlight.subtract(1, ordering: .relaxed) }
        // Across a border an attestation counts as one request of the grant, found or not (no key is released).
        if let crossing { try await gate.chargeMiss(crossing) }
        let located: ObjectStore.Located
        let selector = try versionID.map { name -> VersionSelector in
            guard let selector = VersionName.selector(name) else {
                throw ObjectServiceError.invalidArgument("Invalid version id specified")
            }
            return selector
        }
        if let versionID {
            // Already charged above: found or not, across a border this is one request of the grant.
            located = try await findVersion(record, key, versionID, crossing: nil, markers: true)
            if located.manifest.isTombstone {
                throw crossing == nil
                    ? ObjectServiceError.deleteMarker(bucket: record.name, key: key, version: versionID, byVersion: true)
                    : ObjectServiceError.noSuchVersion(bucket: record.name, key: key, version: versionID)
            }
        } else {
            guard let latest = try await store.locate(record.jurisdiction, bucket: record.name, key: key) else {
                throw ObjectServiceError.noSuchKey(bucket: record.name, key: key)
            }
            located = latest
        }
        // The replica set: the nodes placement names for the key (its first R) and any other holding the version;
        // a named node without the version cannot attest, which the document shows.
        var asked = located.replicas
        for node in try store.ranked(record.jurisdiction, bucket: record.name, key: key)
            .prefix(store.replicas(record.jurisdiction)) where !asked.contains(where: { $0.nodeID == node.nodeID }) {
            asked.append(node)
        }
        let nodes = asked.map(\.nodeID)
        let jurisdiction = record.jurisdiction
        let statements = await withTaskGroup(of: AttestedReplica.self) { group in
            for replica in asked {
                group.addTask {
                    do {
                        let signed = try await replica.attest(jurisdiction, bucket: record.name, key: key,
                                                              version: selector, nonce: nonce, replicas: nodes)
                        return AttestedReplica(node: replica.nodeID, statement: signed, failure: nil)
                    } catch {
                        return AttestedReplica(node: replica.nodeID, statement: nil, failure: "\(error)")
                    }
                }
            }
            var all = [AttestedReplica]()
            for await answer in group { all.append(answer) }
            return all.sorted { $0.node.rawValue < $1.node.rawValue }
        }
        for failed in statements where failed.statement == nil {
            logger.warning("replica did not attest", metadata: ["node": "\(failed.node)", "error": "\(failed.failure ?? "")"])
        }
        let replicas = statements.compactMap { answer in
            answer.statement.map { LocationAttestation.Replica(statement: $0.statement, signature: $0.signature,
                                                              certificate: $0.certificate) }
        }
        guard !replicas.isEmpty else {
            throw ObjectServiceError.serviceUnavailable("no replica of \(key) could attest its copy")
        }
        // A copy whose bytes differ from the digest recorded when it was written is damaged (or altered): said in the
        // log and the gateway's log, and handed to the health monitor, which repairs it from a healthy replica.
        if let recorded = located.manifest.storedDigest.map(Hex.encode) {
            for answer in statements {
                guard let text = answer.statement?.statement, let claim = ReplicaClaim(text: text),
                      claim.sha256 != recorded else { continue }
                logger.error("replica holds other bytes than were written", metadata: [
                    "node": "\(answer.node)", "bucket": "\(record.name)", "key": "\(key)",
                    "version": "\(located.manifest.versionID)"])
                try await audit.record(jurisdiction, kind: "damage", fields: [
                    "node": answer.node.rawValue, "bucket": record.name, "key": key,
                    "version": located.manifest.versionID.description, "recorded": recorded, "found": claim.sha256,
                    "detectedBy": "attestation",
                ])
                if let node = store.node(answer.node) {
                    for extent in located.manifest.extents { store.reportDamaged(node, located.manifest, extent: extent) }
                }
            }
        }
        // Recorded first, so the checkpoint that comes with the attestation can cover its own record; the record names
        // the version's latest placement event, so a document cannot carry an older one or drop it unseen.
        let version = located.manifest.versionID
        let event = try? audit.latestPlacement(jurisdiction, bucket: record.name, key: key, version: version)
        let seq = try await audit.record(jurisdiction, kind: "attestation", fields: principal.auditFields.merging([
            "bucket": record.name, "key": key, "version": version.description,
            "nonce": nonce, "replicas": nodes.map(\.rawValue).joined(separator: ","),
            "attested": statements.filter { $0.statement != nil }.map(\.node.rawValue).joined(separator: ","),
            "placement": event.map(String.init) ?? "none",
        ]) { $1 })
        var checkpoint: String?
        var inclusion: LocationAttestation.AuditInclusion?
        var placement: LocationAttestation.AuditInclusion?
        var consistency: LocationAttestation.ConsistencyProof?
        if let log = try? audit.log(jurisdiction), let note = try? await AuditCheckpointSigner.checkpoint(log, crypto: store.crypto),
           let head = Checkpoint(body: note.text) {
            checkpoint = note.serialized
            inclusion = Self.inclusion(log, seq: seq, size: head.size)
            if let event { placement = Self.inclusion(log, seq: event, size: head.size) }
            if let since, since <= head.size, let proof = try? log.consistencyProof(from: since, to: head.size) {
                consistency = .init(fromSize: since, proof: proof.map { Base64.encode($0) })
            }
        }
        return LocationAttestation(
            jurisdiction: jurisdiction.code, bucket: record.name, key: Base64URL.encode(Array(key.utf8)),
            version: version.description, nonce: nonce, timeMillis: clock.nowMillis(),
            replicationFactor: store.replicas(jurisdiction),
            unanswered: statements.filter { $0.statement == nil }.map { "\($0.node): \($0.failure ?? "no answer")" },
            replicas: replicas, checkpoint: checkpoint, audit: inclusion, placement: placement,
            consistency: consistency)
    }

    /// Entry `seq` of `log` with its inclusion proof in the tree of `size` entries.
    static func inclusion(_ log: AuditLog, seq: UInt64, size: UInt64) -> LocationAttestation.AuditInclusion? {
        guard let (line, proof) = try? log.inclusionProof(seq: seq, size: size) else { return nil }
        return .init(entry: line, index: seq - 1, proof: proof.map { Base64.encode($0) })
    }
}

/// One replica's answer to an attestation request.
struct AttestedReplica: Sendable {
    let node: NodeID
    let statement: ReplicaStatement?
    let failure: String?
}
