import Hashing

/// The digest of an object version's stored ciphertext, as its writing gateway records it in the manifest and the
/// jurisdiction's log, and as every node holding a copy recomputes it from disk for an attestation: SHA-256 over
/// the concatenation of each extent's SHA-256, where an extent's SHA-256 covers its stored segments (ciphertext and
/// tag) in order. Two levels so that a multipart object's digest follows from its parts' without reading them again
/// (`Docs/formats.md`, "Stored digest").
public enum StoredDigest {
    public static let sizeBytes = 32

    /// The object's digest from its extents' digests, in order.
    public static func combine(_ extents: [[UInt8]]) -> [UInt8] {
        let digest = StreamingDigest(.sha256)
        for extent in extents { digest.update(extent) }
        return digest.finalize()
    }
}
