import CSodium
import Envelope
import Glibc
import Hashing
import ObjectModel

/// The built-in backend's state at rest: encrypted with XChaCha20-Poly1305 under a key derived from the unseal
/// secret with Argon2id. Layout (`Docs/formats.md`):
/// magic `QKS1`, format version 1, Argon2id opslimit (u64) and memlimit (u64), salt (16), check value (32),
/// nonce (24), then the sealed state and its tag; everything before the ciphertext is its associated data.
/// The check value (HMAC of a constant under the derived key) tells a wrong secret from a damaged file.
public struct SealedFile: Sendable {
    static let magic: [UInt8] = Array("QKS1".utf8)
    static let formatVersion: UInt8 = 1
    static let saltSizeBytes = 16
    static let nonceSizeBytes = 24
    static let headerSizeBytes = 4 + 1 + 8 + 8 + 16 + 32 + 24

    /// Argon2id cost (libsodium's "interactive" profile by default: 2 passes, 64 MiB).
    public struct Cost: Sendable, Equatable {
        public var opsLimit: UInt64
        public var memLimitBytes: UInt64

        public static let interactive = Cost(opsLimit: UInt64(crypto_pwhash_OPSLIMIT_INTERACTIVE),
                                             memLimitBytes: UInt64(crypto_pwhash_MEMLIMIT_INTERACTIVE))
        /// For tests only: the cheapest cost libsodium accepts.
        public static let minimum = Cost(opsLimit: UInt64(crypto_pwhash_OPSLIMIT_MIN),
                                         memLimitBytes: UInt64(crypto_pwhash_MEMLIMIT_MIN))
        public init(opsLimit: UInt64, memLimitBytes: UInt64) {
            self.opsLimit = opsLimit
            self.memLimitBytes = memLimitBytes
        }
    }

    /// The key derived from the secret, with the parameters it was derived with (kept while unsealed, so every
    /// state change can be sealed again without the secret).
    final class SealingKey: Sendable {
        let key: SecretKey
        let salt: [UInt8]
        let cost: Cost

        init(secret: [UInt8], salt: [UInt8], cost: Cost) throws {
            precondition(Sodium.ready)
            var out = [UInt8](repeating: 0, count: SecretKey.sizeBytes)
            let result = out.withUnsafeMutableBufferPointer { outBuffer in
                secret.withUnsafeBufferPointer { secretBuffer in
                    salt.withUnsafeBufferPointer { saltBuffer in
                        secretBuffer.withMemoryRebound(to: CChar.self) { secretChars in
                            crypto_pwhash(outBuffer.baseAddress!, UInt64(outBuffer.count), secretChars.baseAddress!,
                                          UInt64(secret.count), saltBuffer.baseAddress!, cost.opsLimit,
                                          Int(cost.memLimitBytes), crypto_pwhash_ALG_ARGON2ID13)
                        }
                    }
                }
            }
            guard result == 0 else { throw KeyStoreError.unavailable("Argon2id failed (out of memory?)") }
            key = SecretKey(copying: out)
            wipe(&out)
            self.salt = salt
            self.cost = cost
        }

        var check: [UInt8] { key.withBytes { HMACSHA256.authenticate(key: $0, message: Array("qantara/v1/keystore-check".utf8)) } }
    }

    /// Seals `state` into the file format.
    static func seal(_ state: [UInt8], with sealing: SealingKey) -> [UInt8] {
        var writer = BinaryWriter(capacity: headerSizeBytes + state.count + 16)
        writer.writeRaw(magic)
        writer.write(formatVersion)
        writer.write(sealing.cost.opsLimit)
        writer.write(sealing.cost.memLimitBytes)
        writer.writeRaw(sealing.salt)
        writer.writeRaw(sealing.check)
        let nonce = SecureRandom.bytes(nonceSizeBytes)
        writer.writeRaw(nonce)
        var out = writer.bytes
        let header = out
        out += state
        out += [UInt8](repeating: 0, count: AEADAlgorithm.tagSizeBytes)
        nonce.withUnsafeBytes { nonceBytes in
            header.withUnsafeBytes { aad in
                out.withUnsafeMutableBytes { buffer in
                    AEADAlgorithm.xchacha20poly1305.seal(key: sealing.key, nonce: nonceBytes, aad: aad,
                        buffer: UnsafeMutableRawBufferPointer(rebasing: buffer[headerSizeBytes...]))
                }
            }
        }
        return out
    }

    /// Opens a sealed file with `secret`: distinguishes a wrong secret from a damaged file.
    static func unseal(_ file: [UInt8], secret: [UInt8], jurisdiction: Jurisdiction) throws -> (state: [UInt8], key: SealingKey) {
        guard file.count >= headerSizeBytes + AEADAlgorithm.tagSizeBytes, Array(file.prefix(4)) == magic else {
            throw KeyStoreError.corrupt("not a sealed key-store file (\(file.count) bytes)")
        }
        var reader = BinaryReader(Array(file.prefix(headerSizeBytes)))
        _ = try reader.readRaw(4)
        let version = try reader.readUInt8()
        guard version == formatVersion else { throw KeyStoreError.corrupt("unknown sealed-file version \(version)") }
        let cost = Cost(opsLimit: try reader.readUInt64(), memLimitBytes: try reader.readUInt64())
        guard cost.opsLimit >= UInt64(crypto_pwhash_OPSLIMIT_MIN), cost.opsLimit <= 64,
              cost.memLimitBytes >= UInt64(crypto_pwhash_MEMLIMIT_MIN), cost.memLimitBytes <= 4 << 30 else {
            throw KeyStoreError.corrupt("implausible Argon2id parameters in the sealed file")
        }
        let salt = Array(try reader.readRaw(saltSizeBytes))
        let check = Array(try reader.readRaw(32))
        let nonce = Array(try reader.readRaw(nonceSizeBytes))
        let sealing = try SealingKey(secret: secret, salt: salt, cost: cost)
        guard ConstantTime.equals(sealing.check, check) else { throw KeyStoreError.wrongUnsealSecret(jurisdiction) }
        var buffer = Array(file[headerSizeBytes...])
        let header = Array(file.prefix(headerSizeBytes))
        let ok = nonce.withUnsafeBytes { nonceBytes in
            header.withUnsafeBytes { aad in
                buffer.withUnsafeMutableBytes {
                    AEADAlgorithm.xchacha20poly1305.open(key: sealing.key, nonce: nonceBytes, aad: aad, buffer: $0)
                }
            }
        }
        guard ok else { throw KeyStoreError.corrupt("the sealed state of \(jurisdiction) fails authentication: the file was altered or damaged") }
        buffer.removeLast(AEADAlgorithm.tagSizeBytes)
        return (buffer, sealing)
    }

    /// Writes `bytes` to `path` atomically and durably: a temporary file, fsync, rename, fsync of the directory.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw KeyStoreError.unavailable("cannot write \(temporary): errno \(errno)") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            guard n > 0 else {
                close(fd)
                throw KeyStoreError.unavailable("cannot write \(temporary): errno \(errno)")
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            close(fd)
            throw KeyStoreError.unavailable("fsync \(temporary): errno \(errno)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw KeyStoreError.unavailable("rename to \(path): errno \(errno)") }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
    }

    /// The whole file, or nil when it does not exist.
    static func readFile(_ path: String) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw KeyStoreError.unavailable("cannot read \(path): errno \(errno)")
        }
        defer { close(fd) }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n >= 0 else { throw KeyStoreError.unavailable("cannot read \(path): errno \(errno)") }
            if n == 0 { return out }
            out += chunk[0..<n]
        }
    }
}
