import Foundation
import Hashing
import ObjectModel
import Sovereignty

/// The offline checks of a bucket attestation (`Docs/formats.md`, "Bucket attestations").
extension AttestationVerifier {
    func verify(_ attestation: BucketAttestation, sampled keys: [String]) -> Report {
        var problems = [String]()
        var lines = [String]()
        let jurisdiction = attestation.jurisdiction
        if attestation.format != BucketAttestation.format { problems.append("unknown format \(attestation.format)") }
        if jurisdiction != anchor.jurisdiction.code {
            problems.append("the bucket is in \(jurisdiction), the anchor is \(anchor.jurisdiction)'s")
        }
        if attestation.bucket != bucket { problems.append("the attestation is of bucket \(attestation.bucket), not \(bucket)") }
        if let nonce, !Self.same(nonce, attestation.nonce) {
            problems.append("the attestation answers nonce \(attestation.nonce), not yours (replayed or for someone else)")
        }
        // Each node's statement: certified by J's authority as a node of J, signed, about this bucket and nonce.
        var claims = [String: (claim: BucketClaim, node: BucketAttestation.Node)]()
        for (index, node) in attestation.nodes.enumerated() {
            guard let claim = BucketClaim(text: node.statement) else {
                problems.append("node statement \(index + 1) is not a bucket statement")
                continue
            }
            var checked = checkStatement(node.statement, signature: node.signature, certificate: node.certificate,
                                         node: claim.node, jurisdiction: claim.jurisdiction,
                                         documentJurisdiction: jurisdiction, timeMillis: claim.timeMillis)
            if checked.signed {
                if claim.bucket != attestation.bucket { checked.problems.append("it speaks of another bucket") }
                if claim.nonce != Array(attestation.nonce.utf8) {
                    checked.problems.append("it answers another nonce")
                }
                if claims[claim.node] != nil { checked.problems.append("its statement appears twice") }
            }
            if checked.problems.isEmpty {
                claims[claim.node] = (claim, node)
                lines.append("\(claim.node) (\(jurisdiction)): holds \(claim.objects) current object version(s) of "
                    + "\(attestation.bucket), root \(Base64.encode(claim.root)), signed "
                    + "\(Timestamps.iso8601(millis: claim.timeMillis)), certificate of \(jurisdiction)'s authority")
            } else {
                problems += checked.problems.map { "node \(claim.node): \($0)" }
            }
        }
        for unanswered in attestation.unanswered { problems.append("node \(unanswered) (as the gateway reports)") }
        let root = Base64.decode(attestation.root) ?? []
        if root.count != MerkleTree.hashSize { problems.append("the bucket's root is not a hash") }
        var summary = "bucket attestation of \(attestation.bucket) verified: \(attestation.objects) current object "
            + "version(s) in \(jurisdiction) under root \(attestation.root); nodes "
            + claims.keys.sorted().map { "\($0) (\(claims[$0]!.claim.objects))" }.joined(separator: ", ")
        // Every sampled key: in the bucket's tree, and in the tree of each node its leaf names, as the same version.
        var sampled = Set<String>()
        for sample in attestation.samples {
            let name = String(decoding: Base64URL.decode(sample.key) ?? [], as: UTF8.self)
            guard let leaf = Self.bucketLeaf(sample.leaf), leaf.key == sample.key,
                  Self.proves(sample, size: attestation.objects, root: root) else {
                problems.append("key \(name): not proven in the bucket's tree")
                continue
            }
            sampled.insert(sample.key)
            var held = [String]()
            for node in leaf.nodes {
                guard let (claim, statement) = claims[node] else {
                    problems.append("key \(name): node \(node), named as holding it, gave no valid statement")
                    continue
                }
                guard let proven = statement.samples.first(where: { $0.key == sample.key }),
                      Self.proves(proven, size: claim.objects, root: claim.root) else {
                    problems.append("key \(name): node \(node), named as holding it, does not prove it in its tree")
                    continue
                }
                if proven.leaf != leaf.nodeLeaf {
                    problems.append("key \(name): node \(node) holds \(proven.leaf), the bucket's tree says "
                        + "\(leaf.nodeLeaf)")
                    continue
                }
                held.append(node)
            }
            lines.append("key \(name): version \(leaf.version), sha256 \(leaf.sha256), proven on " + held.joined(separator: ", "))
        }
        // Keys compared as bytes: a Unicode-equivalent key is another object.
        for key in keys where !sampled.contains(Base64URL.encode(Array(key.utf8))) {
            problems.append("key \(key) is not among the attestation's proven samples (ask with --key; a key not in "
                + "the bucket cannot be proven)")
        }
        // The attestation's own record, carrying the root and count, proven in a checkpoint J's authority signed.
        guard let head = checkpoint(attestation.checkpoint) else {
            problems.append("no audit-log checkpoint signed by \(jurisdiction)'s authority comes with it")
            return Report(valid: false, summary: summary, replicas: lines, problems: problems)
        }
        if let entry = Self.provenEntry(attestation.audit, in: head), entry.kind == "attestation",
           entry.fields["scope"] == "bucket", entry.fields["bucket"] == attestation.bucket,
           Self.same(entry.fields["nonce"], attestation.nonce), entry.fields["root"] == attestation.root,
           entry.fields["objects"] == String(attestation.objects) {
            summary += "; recorded with its root as entry \(entry.seq) of \(jurisdiction)'s audit log \(head.origin)"
            problems += checkRecord(entry)
            // Every node the gateway asked gave a valid statement, and none is left out of the document.
            let asked = Set((entry.fields["asked"] ?? "").split(separator: ",").map(String.init))
            let attested = Set((entry.fields["attested"] ?? "").split(separator: ",").map(String.init))
            for node in asked.subtracting(attested).sorted() {
                problems.append("node \(node) of \(jurisdiction) was asked and gave no statement (the log says so)")
            }
            for node in attested.subtracting(claims.keys).sorted() {
                problems.append("node \(node)'s statement, recorded in the log, is missing or does not verify")
            }
            for node in Set(claims.keys).subtracting(attested).sorted() {
                problems.append("node \(node)'s statement is not among those the log recorded")
            }
            if asked.isEmpty { problems.append("the log's record names no node asked") }
        } else {
            problems.append("its own record in \(jurisdiction)'s audit log (with the root) is missing or not proven in "
                + "the checkpoint")
        }
        if claims.isEmpty { problems.append("no node's statement verifies") }
        problems += checkHistory(attestation.consistency, head: head, summary: &summary)
        return Report(valid: problems.isEmpty, summary: summary, replicas: lines, problems: problems)
    }

    /// A gateway leaf (`key K version V sha256 D nodes A,B`), with the node leaf it contains.
    struct GatewayLeaf {
        var key: String
        var version: String
        var sha256: String
        var nodes: [String]
        var nodeLeaf: String
    }

    static func bucketLeaf(_ text: String) -> GatewayLeaf? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 8, parts[0] == "key", parts[2] == "version", parts[4] == "sha256", parts[6] == "nodes"
        else { return nil }
        let nodes = parts[7].split(separator: ",").map(String.init)
        guard !nodes.isEmpty else { return nil }
        return GatewayLeaf(key: parts[1], version: parts[3], sha256: parts[5], nodes: nodes,
                           nodeLeaf: parts[0..<6].joined(separator: " "))
    }

    /// Whether a sample's proof puts its leaf at its index in the tree of `size` leaves with `root`.
    static func proves(_ sample: BucketSample, size: UInt64, root: [UInt8]) -> Bool {
        guard sample.proof.count <= 64, sample.index < size else { return false }
        let proof = sample.proof.compactMap(Base64.decode)
        return proof.count == sample.proof.count
            && MerkleTree.verifyInclusion(index: sample.index, size: size, leaf: MerkleTree.leafHash(Array(sample.leaf.utf8)),
                                          proof: proof, root: root)
    }
}
