import Hashing
import ObjectModel

/// A transparency-log checkpoint (C2SP `tlog-checkpoint`): the origin line naming the log, the tree size in decimal,
/// the base64 root hash, then optional extension lines. Qantara's logs add one, `time <unix milliseconds>`: when the
/// jurisdiction's authority signed it.
public struct Checkpoint: Sendable, Equatable {
    public var origin: String
    public var size: UInt64
    public var root: [UInt8]
    public var extensions: [String]

    public init(origin: String, size: UInt64, root: [UInt8], extensions: [String] = []) {
        self.origin = origin
        self.size = size
        self.root = root
        self.extensions = extensions
    }

    /// The note text: every line ends with a newline.
    public var body: String {
        ([origin, String(size), Base64.encode(root)] + extensions).map { $0 + "\n" }.joined()
    }

    /// Parses a checkpoint body (the text of a signed note).
    public init?(body: String) {
        guard body.hasSuffix("\n") else { return nil }
        let lines = body.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3, !lines[0].isEmpty, lines.allSatisfy({ !$0.isEmpty }),
              let size = UInt64(lines[1]), String(size) == lines[1],
              let root = Base64.decode(lines[2]), root.count == MerkleTree.hashSize,
              Base64.encode(root) == lines[2] else { return nil }
        self.init(origin: lines[0], size: size, root: root, extensions: Array(lines.dropFirst(3)))
    }

    /// The signing time of a Qantara checkpoint (its `time` extension line).
    public var timeMillis: Int64? {
        for line in extensions where line.hasPrefix("time ") { return Int64(line.dropFirst(5)) }
        return nil
    }

    /// Whether `text` is a name usable as an origin or a key name: printable ASCII without spaces or `+`.
    public static func isValidName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 200 && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "+") }
    }
}

/// A C2SP signed note: a text of non-empty lines, a blank line, and signature lines `— <key name> <base64(key ID ||
/// signature)>`. Each signature commits to the text (with its final newline) only.
public struct SignedNote: Sendable, Equatable {
    public struct Signature: Sendable, Equatable {
        public var name: String
        /// The 4-byte key ID, then the signature (for a cosignature: the 8-byte timestamp, then the signature).
        public var bytes: [UInt8]

        public init(name: String, bytes: [UInt8]) {
            self.name = name
            self.bytes = bytes
        }

        public var keyID: [UInt8] { Array(bytes.prefix(4)) }
        var line: String { "\u{2014} \(name) \(Base64.encode(bytes))\n" }
    }

    public var text: String
    public var signatures: [Signature]

    public init(text: String, signatures: [Signature]) {
        self.text = text
        self.signatures = signatures
    }

    /// The note as it travels: text, blank line, signature lines.
    public var serialized: String { text + "\n" + signatures.map(\.line).joined() }

    /// Parses a signed note; nil if it is not one (no blank line, a malformed signature line, no signature).
    public init?(_ serialized: String) {
        guard serialized.utf8.count <= 64 * 1024, let split = serialized.range(of: "\n\n") else { return nil }
        text = String(serialized[..<split.lowerBound]) + "\n"
        let rest = serialized[split.upperBound...]
        guard rest.hasSuffix("\n") else { return nil }
        signatures = []
        for line in rest.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "\u{2014}", Checkpoint.isValidName(String(parts[1])),
                  let bytes = Base64.decode(parts[2]), bytes.count >= 4 else { return nil }
            signatures.append(Signature(name: String(parts[1]), bytes: bytes))
        }
        guard !signatures.isEmpty else { return nil }
    }
}

/// An Ed25519 key that signs notes (signature type 0x01) or cosigns checkpoints as a witness (C2SP
/// `tlog-cosignature`, type 0x04), with its name.
public struct NoteKey: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case ed25519 = 0x01
        case cosignature = 0x04
    }

    public var name: String
    public var publicKey: [UInt8]
    public var kind: Kind

    public init(name: String, publicKey: [UInt8], kind: Kind = .ed25519) {
        self.name = name
        self.publicKey = publicKey
        self.kind = kind
    }

    /// The first four bytes of SHA-256(name || "\n" || type || public key).
    public var keyID: [UInt8] {
        Array(StreamingDigest.hash(.sha256, Array(name.utf8) + [0x0A, kind.rawValue] + publicKey).prefix(4))
    }

    /// The verifier key string of Go's `golang.org/x/mod/sumdb/note` and of C2SP tools:
    /// `<name>+<key ID hex>+<base64(type || public key)>`.
    public var verifierKey: String {
        "\(name)+\(Hex.encode(keyID))+\(Base64.encode([kind.rawValue] + publicKey))"
    }

    /// Parses a verifier key string.
    public init?(verifierKey: String) {
        let parts = verifierKey.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, Checkpoint.isValidName(String(parts[0])), let bytes = Base64.decode(parts[2]),
              bytes.count == 1 + Ed25519.publicKeySizeBytes, let kind = Kind(rawValue: bytes[0]) else { return nil }
        self.init(name: String(parts[0]), publicKey: Array(bytes.dropFirst()), kind: kind)
        guard Hex.encode(keyID) == parts[1].lowercased() else { return nil }
    }

    /// The message a cosignature of `body` at `time` (seconds) signs.
    static func cosignedMessage(_ body: String, time: UInt64) -> [UInt8] {
        Array("cosignature/v1\ntime \(time)\n".utf8) + Array(body.utf8)
    }

    /// Signs the note text with `pair` (whose public key is this key's).
    public func sign(_ text: String, with pair: Ed25519.KeyPair, time: UInt64 = 0) -> SignedNote.Signature {
        switch kind {
        case .ed25519:
            return .init(name: name, bytes: keyID + pair.sign(Array(text.utf8)))
        case .cosignature:
            var stamp = [UInt8](repeating: 0, count: 8)
            for index in 0..<8 { stamp[index] = UInt8(truncatingIfNeeded: time >> (56 - 8 * UInt64(index))) }
            return .init(name: name, bytes: keyID + stamp + pair.sign(Self.cosignedMessage(text, time: time)))
        }
    }

    /// Whether `signature` is this key's over `text`; for a cosignature, also returns its time (seconds).
    public func verifies(_ signature: SignedNote.Signature, of text: String) -> (valid: Bool, time: UInt64?) {
        guard signature.name == name, signature.keyID == keyID else { return (false, nil) }
        switch kind {
        case .ed25519:
            let bytes = Array(signature.bytes.dropFirst(4))
            return (Ed25519.verify(bytes, of: Array(text.utf8), publicKey: publicKey), nil)
        case .cosignature:
            guard signature.bytes.count == 4 + 8 + Ed25519.signatureSizeBytes else { return (false, nil) }
            let time = signature.bytes[4..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let valid = Ed25519.verify(Array(signature.bytes.dropFirst(12)), of: Self.cosignedMessage(text, time: time),
                                       publicKey: publicKey)
            return (valid, valid ? time : nil)
        }
    }
}
