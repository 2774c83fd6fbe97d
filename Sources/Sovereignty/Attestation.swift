import Foundation
import Hashing
import ObjectModel

/// What a storage node states about the copy of an object version it holds (`Docs/formats.md`, "Location
/// attestations"): lines of `name value`, in this order, each ending with a newline; the node signs the text's bytes
/// with its identity key. Names and keys of objects, tenants and nonces are base64url, so no value holds a space or
/// a newline.
public struct ReplicaClaim: Sendable, Equatable {
    public static let label = "qantara-replica/v2"

    public var node: String
    public var jurisdiction: String
    /// Every node the gateway named as holding this version (this one among them): a statement left out of an
    /// attestation is missed by the others'.
    public var replicas: [String]
    public var bucket: String
    public var key: [UInt8]
    public var version: String
    public var sequence: UInt64
    /// The object's size in plaintext bytes.
    public var size: Int64
    /// What the node holds: every stored segment (ciphertext and tags), their count and their SHA-256.
    public var storedBytes: Int64
    public var segments: Int
    public var sha256: String
    /// Whose keys open it: the jurisdiction whose key store wraps the data key, the tenant, the tenant key version,
    /// the bucket key id and the cipher; `none` for an object stored in the clear (benchmark setting).
    public var custody: Custody?
    public var nonce: [UInt8]
    public var timeMillis: Int64

    public struct Custody: Sendable, Equatable {
        public var jurisdiction: String
        public var tenant: String
        public var keyVersion: UInt32
        public var bucketKey: String
        public var cipher: String

        public init(jurisdiction: String, tenant: String, keyVersion: UInt32, bucketKey: String, cipher: String) {
            self.jurisdiction = jurisdiction
            self.tenant = tenant
            self.keyVersion = keyVersion
            self.bucketKey = bucketKey
            self.cipher = cipher
        }

        var text: String {
            "\(jurisdiction) tenant=\(Base64URL.encode(Array(tenant.utf8))) key-version=\(keyVersion) "
                + "bucket-key=\(bucketKey) cipher=\(cipher)"
        }

        init?(text: String) {
            let parts = text.split(separator: " ").map(String.init)
            guard parts.count == 5, Jurisdiction(parts[0]) != nil else { return nil }
            var fields = [String: String]()
            for part in parts.dropFirst() {
                guard let equals = part.firstIndex(of: "=") else { return nil }
                fields[String(part[..<equals])] = String(part[part.index(after: equals)...])
            }
            guard let tenantBytes = fields["tenant"].flatMap(Base64URL.decode),
                  let tenant = String(validating: tenantBytes, as: UTF8.self),
                  let version = fields["key-version"].flatMap(UInt32.init), let bucketKey = fields["bucket-key"],
                  let cipher = fields["cipher"] else { return nil }
            self.init(jurisdiction: parts[0], tenant: tenant, keyVersion: version, bucketKey: bucketKey, cipher: cipher)
        }
    }

    public init(node: String, jurisdiction: String, replicas: [String], bucket: String, key: [UInt8], version: String,
                sequence: UInt64, size: Int64, storedBytes: Int64, segments: Int, sha256: String, custody: Custody?,
                nonce: [UInt8], timeMillis: Int64) {
        self.node = node
        self.jurisdiction = jurisdiction
        self.replicas = replicas
        self.bucket = bucket
        self.key = key
        self.version = version
        self.sequence = sequence
        self.size = size
        self.storedBytes = storedBytes
        self.segments = segments
        self.sha256 = sha256
        self.custody = custody
        self.nonce = nonce
        self.timeMillis = timeMillis
    }

    public var text: String {
        [Self.label, "node \(node)", "jurisdiction \(jurisdiction)", "replicas \(replicas.joined(separator: ","))",
         "bucket \(bucket)",
         "key \(Base64URL.encode(key))", "version \(version)", "sequence \(sequence)", "size \(size)",
         "stored-bytes \(storedBytes)", "segments \(segments)", "sha256 \(sha256)",
         "custody \(custody?.text ?? "none")", "nonce \(Base64URL.encode(nonce))", "time \(timeMillis)"]
            .map { $0 + "\n" }.joined()
    }

    /// Parses a statement's text; nil unless it is exactly in the format (every line, in order, well formed).
    public init?(text: String) {
        guard text.hasSuffix("\n") else { return nil }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let names = ["node", "jurisdiction", "replicas", "bucket", "key", "version", "sequence", "size", "stored-bytes",
                     "segments", "sha256", "custody", "nonce", "time"]
        guard lines.count == names.count + 1, lines[0] == Self.label else { return nil }
        var values = [String]()
        for (line, name) in zip(lines.dropFirst(), names) {
            guard line.hasPrefix(name + " ") else { return nil }
            values.append(String(line.dropFirst(name.count + 1)))
        }
        let replicas = values[2].split(separator: ",").map(String.init)
        guard Jurisdiction(values[1]) != nil, !replicas.isEmpty, let key = Base64URL.decode(values[4]),
              let sequence = UInt64(values[6]), let size = Int64(values[7]), let stored = Int64(values[8]),
              let segments = Int(values[9]), values[10].count == 64, Hex.decode(values[10]) != nil,
              let nonce = Base64URL.decode(values[12]), let time = Int64(values[13]) else { return nil }
        var custody: Custody?
        if values[11] != "none" {
            guard let parsed = Custody(text: values[11]) else { return nil }
            custody = parsed
        }
        self.init(node: values[0], jurisdiction: values[1], replicas: replicas, bucket: values[3], key: key,
                  version: values[5], sequence: sequence, size: size, storedBytes: stored, segments: segments,
                  sha256: values[10], custody: custody, nonce: nonce, timeMillis: time)
        guard self.text == text else { return nil }
    }
}

/// A location attestation: an object's identity and, for each replica, its node's signed statement with the node's
/// certificate; with the jurisdiction's latest audit-log checkpoint. JSON (`Docs/formats.md`).
public struct LocationAttestation: Codable, Sendable, Equatable {
    public static let format = "qantara-attestation/v1"

    public struct Replica: Codable, Sendable, Equatable {
        /// The node's statement (a ``ReplicaClaim``'s text).
        public var statement: String
        /// Base64 Ed25519 signature of the statement's bytes by the node's key.
        public var signature: String
        /// The node's certificate, PEM.
        public var certificate: String

        public init(statement: String, signature: String, certificate: String) {
            self.statement = statement
            self.signature = signature
            self.certificate = certificate
        }
    }

    public var format: String
    public var jurisdiction: String
    public var bucket: String
    /// The object key, base64url of its bytes.
    public var key: String
    public var version: String
    public var nonce: String
    public var timeMillis: Int64
    /// The deployment's replication factor, as the gateway reports it.
    public var replicationFactor: Int
    /// Nodes named in the replica set that gave no statement, with why (as the gateway saw it).
    public var unanswered: [String]
    public var replicas: [Replica]
    /// The latest checkpoint of the jurisdiction's audit log as its key store signed it.
    public var checkpoint: String?
    /// The attestation's own record in that log, and its inclusion proof in the checkpoint's tree.
    public var audit: AuditInclusion?
    /// The version's latest placement event in that log (where its bytes were placed, and their digest), and its
    /// inclusion proof in the checkpoint's tree; nil when this gateway's log holds none.
    public var placement: AuditInclusion?
    /// The consistency proof from the checkpoint the asker holds (by its size) to ``checkpoint``, when asked for.
    public var consistency: ConsistencyProof?

    public struct ConsistencyProof: Codable, Sendable, Equatable {
        /// Size of the tree the proof starts from (the checkpoint the asker holds).
        public var fromSize: UInt64
        /// Base64 hashes, RFC 6962 order.
        public var proof: [String]

        public init(fromSize: UInt64, proof: [String]) {
            self.fromSize = fromSize
            self.proof = proof
        }
    }

    public struct AuditInclusion: Codable, Sendable, Equatable {
        /// The record's line in `audit.log` (the leaf's data).
        public var entry: String
        /// Its leaf index (sequence number − 1).
        public var index: UInt64
        /// Base64 hashes, RFC 6962 order.
        public var proof: [String]

        public init(entry: String, index: UInt64, proof: [String]) {
            self.entry = entry
            self.index = index
            self.proof = proof
        }
    }

    public init(jurisdiction: String, bucket: String, key: String, version: String, nonce: String, timeMillis: Int64,
                replicationFactor: Int, unanswered: [String], replicas: [Replica], checkpoint: String?,
                audit: AuditInclusion? = nil, placement: AuditInclusion? = nil, consistency: ConsistencyProof? = nil) {
        self.audit = audit
        self.placement = placement
        self.consistency = consistency
        self.replicationFactor = replicationFactor
        self.unanswered = unanswered
        self.format = Self.format
        self.jurisdiction = jurisdiction
        self.bucket = bucket
        self.key = key
        self.version = version
        self.nonce = nonce
        self.timeMillis = timeMillis
        self.replicas = replicas
        self.checkpoint = checkpoint
    }
}
