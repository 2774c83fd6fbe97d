import Hashing
import ObjectModel

/// A bucket attestation's leaf for one current object version (`Docs/formats.md`, "Bucket attestations"):
/// `key <base64url key> version <32 hex> sha256 <stored digest hex, or none>`. A node's tree has these leaves; the
/// gateway's adds ` nodes <ids>`, the nodes holding the version.
public enum BucketLeaf {
    public static func text(key: String, version: VersionID, storedDigest: [UInt8]?) -> String {
        "key \(Base64URL.encode(Array(key.utf8))) version \(version) sha256 \(storedDigest.map(Hex.encode) ?? "none")"
    }

    /// The gateway's leaf: the node's, and the nodes holding the version.
    public static func text(key: String, version: VersionID, storedDigest: [UInt8]?, nodes: [NodeID]) -> String {
        text(key: key, version: version, storedDigest: storedDigest) + " nodes "
            + nodes.map(\.rawValue).joined(separator: ",")
    }
}

/// What a node counted of a bucket: the tree of the current object versions it holds, in key order.
public struct BucketTally: Sendable {
    public var bucket: String
    public var objects: UInt64
    public var root: [UInt8]
    public var samples: [BucketSample]

    /// Builds the tally from manifests in key order (each key once, as a node stores them; tombstones skipped),
    /// proving the `sampled` keys that are among them.
    public init(bucket: String, sampled: Set<String>, manifests pages: () throws -> [ObjectManifest]?) rethrows {
        var tree = MerkleLevels()
        var found = [(key: String, index: UInt64, leaf: String)]()
        while let page = try pages() {
            for manifest in page where !manifest.isTombstone {
                let leaf = BucketLeaf.text(key: manifest.key, version: manifest.versionID,
                                           storedDigest: manifest.storedDigest)
                if sampled.contains(manifest.key) { found.append((manifest.key, tree.size, leaf)) }
                tree.append(leaf: Array(leaf.utf8))
            }
        }
        self.bucket = bucket
        objects = tree.size
        root = tree.root(size: tree.size)
        samples = found.map { sample in
            BucketSample(key: Base64URL.encode(Array(sample.key.utf8)), index: sample.index, leaf: sample.leaf,
                         proof: tree.inclusionProof(index: sample.index, size: tree.size).map { Base64.encode($0) })
        }
    }
}

/// A node's signed statement about the part of a bucket it holds, with the inclusion proofs of the sampled keys
/// in its tree.
public struct BucketStatement: Codable, Sendable, Equatable {
    /// The statement's text (`Docs/formats.md`, "Bucket attestations").
    public var statement: String
    public var signature: String
    public var certificate: String
    public var samples: [BucketSample]

    public init(statement: String, signature: String, certificate: String, samples: [BucketSample]) {
        self.statement = statement
        self.signature = signature
        self.certificate = certificate
        self.samples = samples
    }
}

/// How a node signs its statements: its identity key and certificate belong to the process that runs it, which
/// hands the node one of these.
public protocol NodeAttester: Sendable {
    /// The statement about the copy of an object version the node holds (``ReplicaCopy``).
    func replica(_ copy: ReplicaCopy, nonce: String, replicas: [NodeID]) throws -> ReplicaStatement
    /// The statement about the part of a bucket the node holds.
    func bucket(_ tally: BucketTally, nonce: String) throws -> BucketStatement
}
