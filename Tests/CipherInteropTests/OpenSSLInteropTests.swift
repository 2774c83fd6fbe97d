import COpenSSL
import Envelope
import Hashing
import XCTest

/// The format's AES-256-GCM (BoringSSL) against OpenSSL's: the same bytes. A target of its own, because OpenSSL's
/// and BoringSSL's headers declare the same C structs and cannot be loaded in one module.
final class OpenSSLInteropTests: XCTestCase {
    func seal(_ algorithm: AEADAlgorithm, key: [UInt8], nonce: [UInt8], aad: [UInt8], plaintext: [UInt8]) -> [UInt8] {
        var buffer = plaintext + [UInt8](repeating: 0, count: 16)
        nonce.withUnsafeBytes { n in
            aad.withUnsafeBytes { a in
                buffer.withUnsafeMutableBytes { algorithm.seal(key: SecretKey(copying: key), nonce: n, aad: a, buffer: $0) }
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

}
