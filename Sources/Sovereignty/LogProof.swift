import Foundation
import Hashing

/// A proof about an audit log that stands on its own, for a regulator to keep and check offline: an entry's
/// inclusion in the tree a signed checkpoint names, or the consistency of two signed checkpoints of the same log.
/// Hashes and roots are base64; the checkpoints are C2SP signed notes.
public struct LogProof: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case inclusion
        case consistency
    }

    public var kind: Kind
    /// Inclusion: the entry (its JSON line, the leaf's data) and its leaf index (entry seq − 1).
    public var entry: String?
    public var index: UInt64?
    /// Consistency: the older checkpoint (its tree size and root are in it).
    public var oldCheckpoint: String?
    /// The checkpoint proven against: its tree size and root.
    public var checkpoint: String
    public var proof: [String]

    public init(kind: Kind, entry: String? = nil, index: UInt64? = nil, oldCheckpoint: String? = nil,
                checkpoint: String, proof: [String]) {
        self.kind = kind
        self.entry = entry
        self.index = index
        self.oldCheckpoint = oldCheckpoint
        self.checkpoint = checkpoint
        self.proof = proof
    }

    /// What the proof establishes, or why it does not: the checkpoints' signatures by `keys`, the same log for both
    /// checkpoints, and the Merkle path.
    public func verify(keys: [NoteKey]) -> Result<String, ProofFailure> {
        guard let note = SignedNote(checkpoint) else { return .failure(.init("the checkpoint is not a signed note")) }
        let (found, reason) = AuditVerifier.verifiedCheckpoint(note, keys: keys)
        guard let head = found else { return .failure(.init("checkpoint: \(reason ?? "invalid")")) }
        var hashes = [[UInt8]]()
        for hash in proof {
            guard let bytes = Base64.decode(hash), bytes.count == MerkleTree.hashSize else {
                return .failure(.init("the proof holds a hash that is not 32 bytes of base64"))
            }
            hashes.append(bytes)
        }
        switch kind {
        case .inclusion:
            guard let entry, let index else { return .failure(.init("an inclusion proof names an entry and its index")) }
            guard MerkleTree.verifyInclusion(index: index, size: head.size, leaf: MerkleTree.leafHash(Array(entry.utf8)),
                                             proof: hashes, root: head.root) else {
                return .failure(.init("entry \(index &+ 1) is not in the tree of \(head.size) entries of \(head.origin) "
                    + "(the inclusion proof fails)"))
            }
            return .success("entry \(index &+ 1) is in the log \(head.origin) of \(head.size) entries, as its authority signed")
        case .consistency:
            guard let oldCheckpoint, let oldNote = SignedNote(oldCheckpoint) else {
                return .failure(.init("a consistency proof names the older checkpoint"))
            }
            let (oldFound, oldReason) = AuditVerifier.verifiedCheckpoint(oldNote, keys: keys)
            guard let old = oldFound else { return .failure(.init("older checkpoint: \(oldReason ?? "invalid")")) }
            guard old.origin == head.origin else {
                return .failure(.init("the checkpoints are of two logs (\(old.origin), \(head.origin))"))
            }
            guard MerkleTree.verifyConsistency(oldSize: old.size, oldRoot: old.root, newSize: head.size,
                                               newRoot: head.root, proof: hashes) else {
                return .failure(.init("the log of \(head.size) entries is not a consistent extension of the "
                    + "\(old.size) entries signed before (cut, rewritten or forked)"))
            }
            return .success("the log \(head.origin) of \(head.size) entries extends its \(old.size) entries signed before")
        }
    }

    public struct ProofFailure: Error, Equatable {
        public var reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
