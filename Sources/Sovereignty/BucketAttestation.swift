import Foundation
import Hashing
import ObjectModel

/// What a storage node states about the part of a bucket it holds (`Docs/formats.md`, "Bucket attestations"):
/// lines of `name value`, in this order, each ending with a newline, signed by the node's identity key.
public struct BucketClaim: Sendable, Equatable {
    public static let label = "qantara-bucket-replica/v1"

    public var node: String
    public var jurisdiction: String
    public var bucket: String
    /// Current object versions the node holds.
    public var objects: UInt64
    /// RFC 6962 root of their leaves, in key order.
    public var root: [UInt8]
    public var nonce: [UInt8]
    public var timeMillis: Int64

    public init(node: String, jurisdiction: String, bucket: String, objects: UInt64, root: [UInt8], nonce: [UInt8],
                timeMillis: Int64) {
        self.node = node
        self.jurisdiction = jurisdiction
        self.bucket = bucket
        self.objects = objects
        self.root = root
        self.nonce = nonce
        self.timeMillis = timeMillis
    }

    public var text: String {
        [Self.label, "node \(node)", "jurisdiction \(jurisdiction)", "bucket \(bucket)", "objects \(objects)",
         "root \(Base64.encode(root))", "nonce \(Base64URL.encode(nonce))", "time \(timeMillis)"]
            .map { $0 + "\n" }.joined()
    }

    /// Parses a statement's text; nil unless it is exactly in the format.
    public init?(text: String) {
        guard text.hasSuffix("\n") else { return nil }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let names = ["node", "jurisdiction", "bucket", "objects", "root", "nonce", "time"]
        guard lines.count == names.count + 1, lines[0] == Self.label else { return nil }
        var values = [String]()
        for (line, name) in zip(lines.dropFirst(), names) {
            guard line.hasPrefix(name + " ") else { return nil }
            values.append(String(line.dropFirst(name.count + 1)))
        }
        guard Jurisdiction(values[1]) != nil, let objects = UInt64(values[3]), let root = Base64.decode(values[4]),
              root.count == MerkleTree.hashSize, let nonce = Base64URL.decode(values[5]),
              let time = Int64(values[6]) else { return nil }
        self.init(node: values[0], jurisdiction: values[1], bucket: values[2], objects: objects, root: root,
                  nonce: nonce, timeMillis: time)
        guard self.text == text else { return nil }
    }
}

/// A bucket attestation: the RFC 6962 root over every current object version of a bucket (each leaf: key, version,
/// stored digest, the nodes holding it), each node's signed statement over the part it holds, and inclusion proofs
/// of sampled keys in both; with the jurisdiction's checkpoint proving the attestation's own record, which carries
/// the root. JSON (`Docs/formats.md`).
public struct BucketAttestation: Codable, Sendable, Equatable {
    public static let format = "qantara-bucket-attestation/v1"

    /// One sampled key: its leaf and its inclusion proof in a tree (the bucket's, or a node's).
    public typealias Sample = BucketSample

    /// A node's statement (a ``BucketClaim``'s text), its signature, certificate and its proofs of the samples.
    public struct Node: Codable, Sendable, Equatable {
        public var statement: String
        public var signature: String
        public var certificate: String
        public var samples: [Sample]

        public init(statement: String, signature: String, certificate: String, samples: [Sample]) {
            self.statement = statement
            self.signature = signature
            self.certificate = certificate
            self.samples = samples
        }
    }

    public var format: String
    public var jurisdiction: String
    public var bucket: String
    public var nonce: String
    public var timeMillis: Int64
    /// Current object versions in the bucket, and the root of their tree (base64), as the gateway merged them.
    public var objects: UInt64
    public var root: String
    public var replicationFactor: Int
    /// Nodes of the jurisdiction that gave no statement, with why (the gateway's word).
    public var unanswered: [String]
    public var nodes: [Node]
    /// The sampled keys' leaves in the bucket's tree, with their proofs.
    public var samples: [Sample]
    public var checkpoint: String?
    /// The attestation's own record in the log (its fields carry the root and the count), proven in the checkpoint.
    public var audit: LocationAttestation.AuditInclusion?
    /// The consistency proof from the checkpoint the asker holds to ``checkpoint``, when asked for.
    public var consistency: LocationAttestation.ConsistencyProof?

    public init(jurisdiction: String, bucket: String, nonce: String, timeMillis: Int64, objects: UInt64, root: String,
                replicationFactor: Int, unanswered: [String], nodes: [Node], samples: [Sample], checkpoint: String?,
                audit: LocationAttestation.AuditInclusion?, consistency: LocationAttestation.ConsistencyProof? = nil) {
        self.consistency = consistency
        format = Self.format
        self.jurisdiction = jurisdiction
        self.bucket = bucket
        self.nonce = nonce
        self.timeMillis = timeMillis
        self.objects = objects
        self.root = root
        self.replicationFactor = replicationFactor
        self.unanswered = unanswered
        self.nodes = nodes
        self.samples = samples
        self.checkpoint = checkpoint
        self.audit = audit
    }
}
