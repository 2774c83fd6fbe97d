/// One sampled key of a bucket attestation: its leaf and the leaf's inclusion proof in a tree.
public struct BucketSample: Codable, Sendable, Equatable {
    /// The key, base64url of its bytes.
    public var key: String
    public var index: UInt64
    public var leaf: String
    /// Base64 hashes, RFC 6962 order.
    public var proof: [String]

    public init(key: String, index: UInt64, leaf: String, proof: [String]) {
        self.key = key
        self.index = index
        self.leaf = leaf
        self.proof = proof
    }
}
