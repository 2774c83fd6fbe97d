import Hashing
import ObjectModel

/// The keys of one encrypted object, derived from its data key: per-extent segment keys, the metadata key, and the
/// key commitment. Create it with ``create(binding:algorithm:segmentSizeBytes:bucketKey:reference:)`` for a new
/// object or ``open(_:bucketKey:)`` for a stored one.
public final class ObjectCipher: Sendable {
    public let header: EnvelopeHeader
    /// nil for a cipher opened with the metadata key alone (``open(_:metadataKey:)``): it opens the metadata, and
    /// its segment ciphers open nothing.
    let dataKey: SecretKey?
    private let metadataKey: SecretKey

    init(header: EnvelopeHeader, dataKey: SecretKey) {
        self.header = header
        self.dataKey = dataKey
        metadataKey = Self.metadataKey(dataKey: dataKey, salt: header.salt)
    }

    private init(header: EnvelopeHeader, metadataKey: SecretKey) {
        self.header = header
        dataKey = nil
        self.metadataKey = metadataKey
    }

    /// The key of an object's sealed metadata, derived from its data key and its envelope's salt: what a key store
    /// releases for a HeadObject across a border (it opens the metadata, not a byte of the content). Derived with
    /// another salt it opens nothing.
    public static func metadataKey(dataKey: SecretKey, salt: [UInt8]) -> SecretKey {
        HKDF.derive(key: dataKey, salt: salt, info: Array("qantara/v1/metadata".utf8))
    }

    /// The cipher of a stored object's metadata alone, from its metadata key (a HeadObject across a border). It
    /// cannot check the key commitment: the metadata's own authentication tells a wrong key.
    public static func open(_ header: EnvelopeHeader, metadataKey: SecretKey) -> ObjectCipher {
        ObjectCipher(header: header, metadataKey: metadataKey)
    }

    static func commitment(dataKey: SecretKey, header: EnvelopeHeader) -> [UInt8] {
        let commitKey = HKDF.derive(key: dataKey, salt: header.salt, info: Array("qantara/v1/commit".utf8))
        return commitKey.withBytes { HMACSHA256.authenticate(key: $0, message: header.committedBytes) }
    }

    /// What a data key's wrapping binds it to: the object's jurisdiction, tenant, bucket, key and version. A key store
    /// that unwraps a data key with it has thereby authenticated which object the key opens.
    public static func dataKeyAAD(_ binding: ObjectBinding) -> [UInt8] { binding.encoded(label: "qantara/v1/data-key") }

    /// A fresh data key for a new object, wrapped by `bucketKey` (whose key-store reference is `reference`).
    public static func create(binding: ObjectBinding, algorithm: AEADAlgorithm, segmentSizeBytes: UInt32,
                              bucketKey: SecretKey, reference: BucketKeyReference) -> ObjectCipher {
        let dataKey = SecretKey.random()
        var header = EnvelopeHeader(algorithm: algorithm, segmentSizeBytes: segmentSizeBytes,
                                    salt: SecureRandom.bytes(EnvelopeHeader.saltSizeBytes), binding: binding,
                                    bucketKey: reference,
                                    wrappedDataKey: KeyWrap.wrap(dataKey, under: bucketKey, aad: dataKeyAAD(binding)),
                                    commitment: [])
        header.commitment = commitment(dataKey: dataKey, header: header)
        return ObjectCipher(header: header, dataKey: dataKey)
    }

    /// The cipher of a stored object: unwraps its data key with the (already unwrapped) bucket key and checks the
    /// key commitment.
    public static func open(_ header: EnvelopeHeader, bucketKey: SecretKey) throws -> ObjectCipher {
        try open(header, dataKey: try KeyWrap.unwrap(header.wrappedDataKey, under: bucketKey,
                                                    aad: dataKeyAAD(header.binding)))
    }

    /// The cipher of a stored object from its data key itself (as a key store releases it for one object across a
    /// border), after checking the key commitment.
    public static func open(_ header: EnvelopeHeader, dataKey: SecretKey) throws -> ObjectCipher {
        guard ConstantTime.equals(commitment(dataKey: dataKey, header: header), header.commitment) else {
            throw EnvelopeError.authenticationFailed("key commitment of \(header.binding.key) does not match its data key")
        }
        return ObjectCipher(header: header, dataKey: dataKey)
    }

    /// The segment cipher of one extent: the whole object of a single PUT (`part` 0, `extent` = its version) or one
    /// part of a multipart object (`part` = its number, `extent` = the part's version). Each extent has its own
    /// key, so a re-uploaded part never reuses a nonce.
    public func segments(extent: VersionID, part: UInt32) -> SegmentCipher {
        // Without the data key (a metadata-only cipher) the segments get a key no one has: they fail to
        // authenticate, as damaged data would, rather than open.
        let key = dataKey.map {
            HKDF.derive(key: $0, salt: header.salt, info: Array("qantara/v1/segments".utf8) + extent.bytes)
        } ?? SecretKey.random()
        return SegmentCipher(algorithm: header.algorithm, key: key, part: part)
    }

    /// Seals the encoded user metadata with a random nonce; `aad` binds what the manifest says in clear (size, ETag,
    /// parts), so editing those is detected when the metadata is opened.
    public func sealMetadata(_ plaintext: [UInt8], aad: [UInt8]) -> [UInt8] {
        let algorithm = header.algorithm
        let nonce = SecureRandom.bytes(algorithm.nonceSizeBytes)
        var out = [UInt8]()
        out.reserveCapacity(1 + nonce.count + plaintext.count + AEADAlgorithm.tagSizeBytes)
        out.append(EnvelopeHeader.formatVersion)
        out += nonce
        out += plaintext
        out += [UInt8](repeating: 0, count: AEADAlgorithm.tagSizeBytes)
        let start = 1 + nonce.count
        nonce.withUnsafeBytes { nonceBytes in
            aad.withUnsafeBytes { aadBytes in
                out.withUnsafeMutableBytes { buffer in
                    algorithm.seal(key: metadataKey, nonce: nonceBytes, aad: aadBytes,
                                   buffer: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]))
                }
            }
        }
        return out
    }

    /// Opens what ``sealMetadata(_:aad:)`` produced with the same `aad`.
    public func openMetadata(_ sealed: [UInt8], aad: [UInt8]) throws -> [UInt8] {
        let algorithm = header.algorithm
        let start = 1 + algorithm.nonceSizeBytes
        guard sealed.count >= start + AEADAlgorithm.tagSizeBytes, sealed[0] == EnvelopeHeader.formatVersion else {
            throw EnvelopeError.malformed("sealed metadata")
        }
        let nonce = Array(sealed[1..<start])
        var buffer = Array(sealed[start...])
        let ok = nonce.withUnsafeBytes { nonceBytes in
            aad.withUnsafeBytes { aadBytes in
                buffer.withUnsafeMutableBytes {
                    algorithm.open(key: metadataKey, nonce: nonceBytes, aad: aadBytes, buffer: $0)
                }
            }
        }
        guard ok else { throw EnvelopeError.authenticationFailed("metadata of \(header.binding.key)") }
        buffer.removeLast(AEADAlgorithm.tagSizeBytes)
        return buffer
    }
}

/// Seals and opens the segments of one extent. Nonces are counters: part number, segment index and a last-segment
/// flag, so a segment moved, dropped, duplicated or cut short does not open.
public struct SegmentCipher: Sendable {
    public let algorithm: AEADAlgorithm
    let key: SecretKey
    public let part: UInt32

    /// Nonce of segment `index`: part (4 bytes, big-endian), index (4), three zero bytes, flags (1: last);
    /// XChaCha20's 24-byte nonce puts twelve zero bytes before it.
    func nonce(index: UInt32, last: Bool) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: algorithm.nonceSizeBytes)
        let base = nonce.count - 12
        for shift in 0..<4 {
            nonce[base + shift] = UInt8(truncatingIfNeeded: part >> (24 - 8 * shift))
            nonce[base + 4 + shift] = UInt8(truncatingIfNeeded: index >> (24 - 8 * shift))
        }
        nonce[base + 11] = last ? 1 : 0
        return nonce
    }

    /// Encrypts `buffer` (plaintext followed by 16 spare bytes) in place, the tag last.
    public func seal(index: UInt32, last: Bool, buffer: UnsafeMutableRawBufferPointer) {
        nonce(index: index, last: last).withUnsafeBytes { nonceBytes in
            algorithm.seal(key: key, nonce: nonceBytes, aad: UnsafeRawBufferPointer(start: nil, count: 0), buffer: buffer)
        }
    }

    /// Verifies `sealed` (ciphertext then tag) and decrypts it into `output` (16 bytes shorter).
    public func open(index: UInt32, last: Bool, sealed: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
        throws
    {
        let ok = nonce(index: index, last: last).withUnsafeBytes { nonceBytes in
            algorithm.open(key: key, nonce: nonceBytes, aad: UnsafeRawBufferPointer(start: nil, count: 0), sealed: sealed,
                           into: output)
        }
        guard ok else {
            throw EnvelopeError.authenticationFailed("segment \(index) of part \(part)\(last ? " (last)" : "")")
        }
    }

    /// Verifies and decrypts `buffer` (ciphertext then tag) in place.
    public func open(index: UInt32, last: Bool, buffer: UnsafeMutableRawBufferPointer) throws {
        let ok = nonce(index: index, last: last).withUnsafeBytes { nonceBytes in
            algorithm.open(key: key, nonce: nonceBytes, aad: UnsafeRawBufferPointer(start: nil, count: 0), buffer: buffer)
        }
        guard ok else {
            throw EnvelopeError.authenticationFailed("segment \(index) of part \(part)\(last ? " (last)" : "")")
        }
    }
}
