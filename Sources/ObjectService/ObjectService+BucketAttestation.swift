import Foundation
import Hashing
import ObjectModel
import Sovereignty
import StorageNode

/// Bucket attestations through the one door: a listing of the bucket (across a border, only under a grant covering
/// ListObjects on the whole bucket), audited, answered with every node's signed statement over the part it holds.
extension ObjectService {
    /// A bucket attestation: every node of the bucket's jurisdiction counts the current object versions it holds
    /// and signs the root of their tree; the gateway merges the nodes' listings into the bucket's tree (each leaf
    /// naming the nodes holding the version), proves the `sampled` keys in it and in each holder's tree, and records
    /// the root in the jurisdiction's log before the checkpoint that comes with it is signed.
    public func attestBucket(_ principal: Principal, _ bucket: String, nonce: String, sampled: [String],
                             since: UInt64? = nil) async throws -> BucketAttestation
    {
        let record = try resolve(principal, bucket)
        try await gate.checkRead(principal, record, .listObjects, prefix: "")
        guard sampled.count <= Limits.bucketAttestationSamplesMax else {
            throw ObjectServiceError.invalidArgument("a bucket attestation samples at most "
                + "\(Limits.bucketAttestationSamplesMax) keys")
        }
        for key in sampled { if let problem = ObjectKey.problem(key) { throw ObjectServiceError.invalidArgument(problem) } }
        guard attestationsInFlight.add(1, ordering: .relaxed).newValue <= Limits.attestationsInFlightMax else {
            attestationsInFlight.subtract(1, ordering: .relaxed)
            throw ObjectServiceError.serviceUnavailable("too many attestations at once; retry shortly")
        }
        defer { attestationsInFlight.subtract(1, ordering: .relaxed) }
        let jurisdiction = record.jurisdiction
        let nodes = try store.all(jurisdiction)
        let answers = await withTaskGroup(of: AttestedBucketPart.self) { group in
            for node in nodes {
                group.addTask {
                    do {
                        let statement = try await node.attestBucket(jurisdiction, bucket: record.name, nonce: nonce,
                                                                    sampled: sampled)
                        return AttestedBucketPart(node: node.nodeID, statement: statement, failure: nil)
                    } catch {
                        return AttestedBucketPart(node: node.nodeID, statement: nil, failure: "\(error)")
                    }
                }
            }
            var all = [AttestedBucketPart]()
            for await answer in group { all.append(answer) }
            return all.sorted { $0.node.rawValue < $1.node.rawValue }
        }
        let tree = try await store.bucketTree(jurisdiction, bucket: record.name, sampled: Set(sampled))
        let root = Base64.encode(tree.root)
        let attested = answers.filter { $0.statement != nil }.map(\.node.rawValue)
        let seq = try await audit.record(jurisdiction, kind: "attestation", fields: principal.auditFields.merging([
            "scope": "bucket", "bucket": record.name, "nonce": nonce, "objects": String(tree.objects), "root": root,
            "asked": nodes.map(\.nodeID.rawValue).joined(separator: ","), "attested": attested.joined(separator: ","),
        ]) { $1 })
        var checkpoint: String?
        var inclusion: LocationAttestation.AuditInclusion?
        var consistency: LocationAttestation.ConsistencyProof?
        if let log = try? audit.log(jurisdiction),
           let note = try? await AuditCheckpointSigner.checkpoint(log, crypto: store.crypto),
           let head = Checkpoint(body: note.text) {
            checkpoint = note.serialized
            inclusion = Self.inclusion(log, seq: seq, size: head.size)
            if let since, since <= head.size, let proof = try? log.consistencyProof(from: since, to: head.size) {
                consistency = .init(fromSize: since, proof: proof.map { Base64.encode($0) })
            }
        }
        return BucketAttestation(
            jurisdiction: jurisdiction.code, bucket: record.name, nonce: nonce, timeMillis: clock.nowMillis(),
            objects: tree.objects, root: root, replicationFactor: store.replicas(jurisdiction),
            unanswered: answers.filter { $0.statement == nil }.map { "\($0.node): \($0.failure ?? "no answer")" },
            nodes: answers.compactMap { answer in
                answer.statement.map { BucketAttestation.Node(statement: $0.statement, signature: $0.signature,
                                                              certificate: $0.certificate,
                                                              samples: $0.samples) }
            },
            samples: tree.samples, checkpoint: checkpoint, audit: inclusion, consistency: consistency)
    }
}

/// One node's answer to a bucket attestation request.
struct AttestedBucketPart: Sendable {
    let node: NodeID
    let statement: BucketStatement?
    let failure: String?
}

/// A bucket's tree as the gateway merges it from its nodes.
struct BucketTree: Sendable {
    var objects: UInt64
    var root: [UInt8]
    var samples: [BucketSample]
}

extension ObjectStore {
    /// Merges the listings of every node of J that answers, in key order, a page per node at a time: for each key the
    /// newest version among the nodes, unless it is a tombstone, becomes a leaf naming the nodes that hold it
    /// (``BucketLeaf``). Memory: the tree (64 bytes per object) and a page per node.
    func bucketTree(_ jurisdiction: Jurisdiction, bucket: String, sampled: Set<String>) async throws -> BucketTree {
        var cursors = try all(jurisdiction).map { BucketListingCursor(client: $0) }
        var tree = MerkleLevels()
        var found = [(key: String, index: UInt64, leaf: String)]()
        while true {
            for index in cursors.indices { await cursors[index].fill(jurisdiction, bucket: bucket) }
            guard let key = cursors.compactMap(\.current?.key)
                .min(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) else { break }
            var copies = [(node: NodeID, manifest: ObjectManifest)]()
            for index in cursors.indices where cursors[index].current?.key == key {
                copies.append((cursors[index].client.nodeID, cursors[index].current!))
                cursors[index].position += 1
            }
            let newest = copies.map(\.manifest).max { $1.isNewer(than: $0) }!
            guard !newest.isTombstone else { continue }
            let holders = copies.filter { $0.manifest.versionID == newest.versionID }.map(\.node)
                .sorted { $0.rawValue < $1.rawValue }
            let leaf = BucketLeaf.text(key: key, version: newest.versionID, storedDigest: newest.storedDigest,
                                       nodes: holders)
            if sampled.contains(key) { found.append((key, tree.size, leaf)) }
            tree.append(leaf: Array(leaf.utf8))
        }
        if cursors.allSatisfy({ $0.failed }) {
            throw ObjectServiceError.serviceUnavailable("no storage node of \(jurisdiction) answered")
        }
        let finished = tree
        return BucketTree(objects: finished.size, root: finished.root(size: finished.size), samples: found.map { sample in
            BucketSample(key: Base64URL.encode(Array(sample.key.utf8)), index: sample.index, leaf: sample.leaf,
                         proof: finished.inclusionProof(index: sample.index, size: finished.size).map { Base64.encode($0) })
        })
    }
}

/// One node's listing of a bucket, read a page at a time; a node that fails is left out (and reported by its
/// missing statement).
private struct BucketListingCursor {
    let client: any StorageNodeClient
    var page: [ObjectManifest] = []
    var position = 0
    var from: [UInt8] = []
    var exhausted = false
    var failed = false

    init(client: any StorageNodeClient) { self.client = client }

    var current: ObjectManifest? { position < page.count ? page[position] : nil }

    mutating func fill(_ jurisdiction: Jurisdiction, bucket: String) async {
        guard position >= page.count, !exhausted else { return }
        do {
            page = try await client.list(jurisdiction, bucket: bucket, prefix: [], from: from,
                                         limit: Limits.listBatchPerNode)
        } catch {
            (page, failed, exhausted) = ([], true, true)
            return
        }
        position = 0
        if let last = page.last { from = Array(last.key.utf8) + [0] }
        exhausted = page.count < Limits.listBatchPerNode
    }
}
