import Hashing
import ObjectModel

/// Highest-random-weight (rendezvous) hashing: every node gets a score for an object, and the object lives on
/// the best-scoring nodes. Adding or removing a node moves only the objects whose top nodes changed.
public enum Rendezvous {
    /// `nodes` ordered from most to least preferred for `key` of `bucket`. Pure and deterministic.
    public static func rank(_ nodes: [NodeID], bucket: String, key: String) -> [NodeID] {
        var scored = nodes.map { node in (node, score(node: node, bucket: bucket, key: key)) }
        scored.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        return scored.map(\.0)
    }

    /// `nodes` ordered from most to least preferred to hold the listing index of `bucket` (``Topology/indexReplicas(_:bucket:)``).
    /// Pure and deterministic; scored apart from every object (an object key cannot reach this input: see
    /// ``indexScore(node:bucket:)``).
    public static func rankIndex(_ nodes: [NodeID], bucket: String) -> [NodeID] {
        var scored = nodes.map { node in (node, indexScore(node: node, bucket: bucket)) }
        scored.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        return scored.map(\.0)
    }

    /// The score of `node` for the index of `bucket`: the first 8 bytes of SHA-256(node, NUL, bucket, NUL, NUL,
    /// "index"): two NULs in a row after the bucket never start an object's input, whose key follows a single NUL
    /// and holds no NUL of its own (S3 keys are XML text).
    public static func indexScore(node: NodeID, bucket: String) -> UInt64 {
        var input = Array(node.rawValue.utf8)
        input.append(0)
        input += bucket.utf8
        input += [0, 0]
        input += "index".utf8
        let digest = StreamingDigest.hash(.sha256, input)
        return digest.prefix(8).reduce(0) { ($0 << 8) | UInt64($1) }
    }

    /// The score of `node` for an object: the first 8 bytes of SHA-256(node, bucket, key), NUL-separated.
    public static func score(node: NodeID, bucket: String, key: String) -> UInt64 {
        var input = Array(node.rawValue.utf8)
        input.append(0)
        input += bucket.utf8
        input.append(0)
        input += key.utf8
        let digest = StreamingDigest.hash(.sha256, input)
        return digest.prefix(8).reduce(0) { ($0 << 8) | UInt64($1) }
    }
}
