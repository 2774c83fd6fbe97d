import XCTest
import COpenSSL
import Hashing
import ObjectModel
@testable import Envelope

final class AEADTests: XCTestCase {
    func hex(_ string: String) -> [UInt8] { Hex.decode(string)! }

    /// Seals `plaintext` in a copy and returns ciphertext || tag.
    func seal(_ algorithm: AEADAlgorithm, key: [UInt8], nonce: [UInt8], aad: [UInt8], plaintext: [UInt8]) -> [UInt8] {
        var buffer = plaintext + [UInt8](repeating: 0, count: 16)
        nonce.withUnsafeBytes { n in
            aad.withUnsafeBytes { a in
                buffer.withUnsafeMutableBytes {
                    algorithm.seal(key: SecretKey(copying: key), nonce: n, aad: a, buffer: $0)
                }
            }
        }
        return buffer
    }

    func open(_ algorithm: AEADAlgorithm, key: [UInt8], nonce: [UInt8], aad: [UInt8], sealed: [UInt8]) -> [UInt8]? {
        var buffer = sealed
        let ok = nonce.withUnsafeBytes { n in
            aad.withUnsafeBytes { a in
                buffer.withUnsafeMutableBytes { algorithm.open(key: SecretKey(copying: key), nonce: n, aad: a, buffer: $0) }
            }
        }
        return ok ? Array(buffer.dropLast(16)) : nil
    }

    /// AES-256-GCM as OpenSSL computes it, for ``testAESGCMMatchesOpenSSL``.
    func opensslSeal(key: [UInt8], nonce: [UInt8], aad: [UInt8], plaintext: [UInt8]) -> [UInt8] {
        let context = EVP_CIPHER_CTX_new()!
        defer { EVP_CIPHER_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: plaintext.count + 16)
        var length: Int32 = 0
        var ok = EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key, nonce)
        if !aad.isEmpty { ok &= EVP_EncryptUpdate(context, nil, &length, aad, Int32(aad.count)) }
        if !plaintext.isEmpty { ok &= EVP_EncryptUpdate(context, &output, &length, plaintext, Int32(plaintext.count)) }
        output.withUnsafeMutableBufferPointer { out in
            ok &= EVP_EncryptFinal_ex(context, out.baseAddress! + plaintext.count, &length)
            ok &= EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, out.baseAddress! + plaintext.count)
        }
        XCTAssertEqual(ok, 1)
        return output
    }

    /// The BoringSSL implementation produces OpenSSL's bytes, over lengths that exercise every code path (empty,
    /// partial blocks, the wide VAES loops, a whole segment) and opens them; a flipped bit does not open.
    func testAESGCMMatchesOpenSSL() {
        for (index, length) in [0, 1, 15, 16, 17, 255, 256, 257, 511, 4096, 65_537, 1 << 20].enumerated() {
            let key = SecureRandom.bytes(32), nonce = SecureRandom.bytes(12)
            let aad = SecureRandom.bytes(index % 3 == 0 ? 0 : 13 * index)
            let plaintext = SecureRandom.bytes(length)
            let sealed = seal(.aes256gcm, key: key, nonce: nonce, aad: aad, plaintext: plaintext)
            XCTAssertEqual(sealed, opensslSeal(key: key, nonce: nonce, aad: aad, plaintext: plaintext), "length \(length)")
            XCTAssertEqual(open(.aes256gcm, key: key, nonce: nonce, aad: aad, sealed: sealed), plaintext)
            var flipped = sealed
            flipped[length / 2] ^= 0x40
            XCTAssertNil(open(.aes256gcm, key: key, nonce: nonce, aad: aad, sealed: flipped), "length \(length)")
        }
    }

    /// The GCM specification's test case 16 (AES-256, 96-bit IV, with associated data).
    func testAESGCMKnownAnswer() {
        let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        let nonce = hex("cafebabefacedbaddecaf888")
        let plaintext = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let expected = hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
            + "76fc6ece0f4e1768cddf8853bb2d551b")
        XCTAssertEqual(Hex.encode(seal(.aes256gcm, key: key, nonce: nonce, aad: aad, plaintext: plaintext)), Hex.encode(expected))
        XCTAssertEqual(open(.aes256gcm, key: key, nonce: nonce, aad: aad, sealed: expected), plaintext)
    }

    /// draft-irtf-cfrg-xchacha-03, appendix A.3.1.
    func testXChaChaKnownAnswer() {
        let key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
        let nonce = hex("404142434445464748494a4b4c4d4e4f5051525354555657")
        let aad = hex("50515253c0c1c2c3c4c5c6c7")
        let plaintext = Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
        let expected = hex("bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e"
            + "c0875924c1c7987947deafd8780acf49")
        XCTAssertEqual(Hex.encode(seal(.xchacha20poly1305, key: key, nonce: nonce, aad: aad, plaintext: plaintext)), Hex.encode(expected))
        XCTAssertEqual(open(.xchacha20poly1305, key: key, nonce: nonce, aad: aad, sealed: expected), plaintext)
    }

    func testEveryFlippedBitIsRejected() {
        for algorithm in AEADAlgorithm.allCases {
            let key = SecureRandom.bytes(32), nonce = SecureRandom.bytes(algorithm.nonceSizeBytes)
            let sealed = seal(algorithm, key: key, nonce: nonce, aad: [1, 2, 3], plaintext: Array(0..<40))
            for bit in stride(from: 0, to: sealed.count * 8, by: 7) {
                var tampered = sealed
                tampered[bit / 8] ^= UInt8(1 << (bit % 8))
                XCTAssertNil(open(algorithm, key: key, nonce: nonce, aad: [1, 2, 3], sealed: tampered), "\(algorithm) bit \(bit)")
            }
            XCTAssertNil(open(algorithm, key: key, nonce: nonce, aad: [1, 2, 4], sealed: sealed))
            XCTAssertNil(open(algorithm, key: key, nonce: nonce, aad: [1, 2, 3], sealed: Array(sealed.dropLast())))
            XCTAssertEqual(open(algorithm, key: key, nonce: nonce, aad: [1, 2, 3], sealed: sealed), Array(0..<40))
            // Empty plaintext still carries a tag.
            let empty = seal(algorithm, key: key, nonce: nonce, aad: [], plaintext: [])
            XCTAssertEqual(empty.count, 16)
            XCTAssertEqual(open(algorithm, key: key, nonce: nonce, aad: [], sealed: empty), [])
        }
    }

    /// RFC 5869, test case 1.
    func testHKDFKnownAnswer() {
        let okm = HKDF.derive(key: SecretKey(copying: [UInt8](repeating: 0x0b, count: 22)), salt: hex("000102030405060708090a0b0c"),
                              info: hex("f0f1f2f3f4f5f6f7f8f9"), length: 42)
        XCTAssertEqual(Hex.encode(okm.exportBytes()),
                       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }

    func testKeyWrapBindsItsAssociatedData() throws {
        let wrapping = SecretKey.random(), key = SecretKey.random()
        let wrapped = KeyWrap.wrap(key, under: wrapping, aad: Array("a".utf8))
        XCTAssertEqual(wrapped.count, KeyWrap.wrappedSizeBytes)
        XCTAssertEqual(try KeyWrap.unwrap(wrapped, under: wrapping, aad: Array("a".utf8)).exportBytes(), key.exportBytes())
        XCTAssertThrowsError(try KeyWrap.unwrap(wrapped, under: wrapping, aad: Array("b".utf8)))
        XCTAssertThrowsError(try KeyWrap.unwrap(wrapped, under: SecretKey.random(), aad: Array("a".utf8)))
        var tampered = wrapped
        tampered[20] ^= 1
        XCTAssertThrowsError(try KeyWrap.unwrap(tampered, under: wrapping, aad: Array("a".utf8)))
        XCTAssertThrowsError(try KeyWrap.unwrap(Array(wrapped.dropLast()), under: wrapping, aad: Array("a".utf8)))
        XCTAssertFalse(key.description.contains(Hex.encode(key.exportBytes())))
    }
}
