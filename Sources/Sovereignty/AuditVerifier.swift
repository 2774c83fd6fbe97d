import Foundation
import Hashing
import ObjectModel

/// Checks an audit log offline: the hash chain of its entries, the Merkle tree they form, and the checkpoints
/// signed by the jurisdiction's authority, both those the log keeps and those held elsewhere (the key store's latest,
/// a regulator's, a witness's). A log cut short, rewritten or forked fails against any checkpoint of a longer or
/// different history. Every problem is reported with the line, entry or checkpoint it concerns.
public enum AuditVerifier {
    public struct Report: Sendable, Equatable {
        public var entries: Int
        /// Checkpoints whose signature verified (the log's own and those held).
        public var checkpoints: Int
        /// Size of the largest verified checkpoint (0: none).
        public var signedThrough: UInt64
        /// The tree's root over every entry (base64).
        public var root: String
        public var problems: [String]

        public var isValid: Bool { problems.isEmpty }
    }

    /// The origin prefix of J's audit logs: `qantara/<J>/audit/` then the writing gateway's identity.
    public static func originPrefix(_ jurisdiction: Jurisdiction) -> String { "qantara/\(jurisdiction.code)/audit/" }

    /// The note keys of J's authority keys (key name: the authority's kid).
    public static func noteKeys(_ jurisdiction: Jurisdiction, _ authorities: Sovereignty.Authorities) -> [NoteKey] {
        authorities.filter { $0.value.jurisdiction == jurisdiction }.map { NoteKey(name: $0.key, publicKey: $0.value.publicKey) }
    }

    /// The checkpoint of `note` if one of `keys` signed it; nil and the reason otherwise.
    public static func verifiedCheckpoint(_ note: SignedNote, keys: [NoteKey]) -> (Checkpoint?, String?) {
        guard let checkpoint = Checkpoint(body: note.text) else { return (nil, "not a checkpoint") }
        let signed = note.signatures.contains { signature in
            keys.contains { $0.verifies(signature, of: note.text).valid }
        }
        return signed ? (checkpoint, nil) : (nil, "no signature verifies with the authority's keys")
    }

    /// Verifies the lines of `audit.log` and `audit.checkpoints` against J's authority keys, and the log against
    /// every checkpoint of `held` too.
    /// With `witnesses`, each must have cosigned one of the checkpoints that verified against the log.
    public static func verify(entryLines: [String], checkpointLines: [String], held: [SignedNote] = [],
                              witnesses: [NoteKey] = [], jurisdiction: Jurisdiction,
                              authorities: Sovereignty.Authorities) -> Report {
        var problems = [String]()
        var tree = MerkleLevels()
        var expectedSeq: UInt64 = 1
        var previous = AuditEntry.genesis
        for (index, line) in entryLines.enumerated() {
            tree.append(leaf: Array(line.utf8))
            guard let entry = try? JSONDecoder().decode(AuditEntry.self, from: Data(line.utf8)) else {
                problems.append("audit.log line \(index + 1): not an audit entry")
                continue
            }
            if entry.seq != expectedSeq {
                problems.append("entry \(entry.seq) at line \(index + 1): expected entry \(expectedSeq) "
                    + "(an entry was deleted, inserted or moved)")
            }
            if entry.previous != previous {
                problems.append("entry \(entry.seq): does not follow the entry before it (chain broken)")
            }
            if entry.computedHash() != entry.hash {
                problems.append("entry \(entry.seq): content does not match its hash (edited)")
            }
            previous = entry.hash
            expectedSeq = entry.seq + 1
        }
        let keys = noteKeys(jurisdiction, authorities)
        var notes = [(String, SignedNote?)]()
        for (index, line) in checkpointLines.enumerated() {
            notes.append(("audit.checkpoints line \(index + 1)", AuditLog.note(line: line)))
        }
        for (index, note) in held.enumerated() { notes.append(("held checkpoint \(index + 1)", note)) }
        var signedThrough: UInt64 = 0
        var verified = 0
        var origin: String?
        var roots = [UInt64: [UInt8]]()
        var cosigned = Set<String>()
        for (place, note) in notes {
            guard let note else {
                problems.append("\(place): not a signed checkpoint")
                continue
            }
            let (found, reason) = verifiedCheckpoint(note, keys: keys)
            guard let checkpoint = found else {
                problems.append("\(place): \(reason ?? "invalid") (\(jurisdiction)'s authority did not sign it)")
                continue
            }
            verified += 1
            guard checkpoint.origin.hasPrefix(originPrefix(jurisdiction)) else {
                problems.append("\(place): a checkpoint of \(checkpoint.origin), not of an audit log of \(jurisdiction)")
                continue
            }
            if let origin, origin != checkpoint.origin {
                problems.append("\(place): a checkpoint of \(checkpoint.origin), another log than \(origin)")
                continue
            }
            origin = checkpoint.origin
            if let root = roots[checkpoint.size], root != checkpoint.root {
                problems.append("\(place): two checkpoints of \(checkpoint.size) entries with different roots (forked log)")
            }
            roots[checkpoint.size] = checkpoint.root
            guard checkpoint.size <= tree.size else {
                problems.append("\(place): \(jurisdiction)'s authority signed \(checkpoint.size) entries but the log "
                    + "has \(tree.size) (truncated)")
                continue
            }
            guard tree.root(size: checkpoint.size) == checkpoint.root else {
                problems.append("\(place): the first \(checkpoint.size) entries are not those \(jurisdiction)'s "
                    + "authority signed (rewritten)")
                continue
            }
            signedThrough = max(signedThrough, checkpoint.size)
            for witness in witnesses where note.signatures.contains(where: { witness.verifies($0, of: note.text).valid }) {
                cosigned.insert(witness.verifierKey)
            }
        }
        for witness in witnesses where !cosigned.contains(witness.verifierKey) {
            problems.append("no checkpoint of this log is cosigned by the witness \(witness.name)")
        }
        return Report(entries: entryLines.count, checkpoints: verified, signedThrough: signedThrough,
                      root: Base64.encode(tree.root(size: tree.size)), problems: problems)
    }

    /// Verifies the log files in `directory`.
    public static func verify(directory: String, held: [SignedNote] = [], witnesses: [NoteKey] = [],
                              jurisdiction: Jurisdiction, authorities: Sovereignty.Authorities) throws -> Report {
        verify(entryLines: try AuditLog.readLines(directory + "/audit.log"),
               checkpointLines: try AuditLog.readLines(directory + "/audit.checkpoints"), held: held,
               witnesses: witnesses, jurisdiction: jurisdiction, authorities: authorities)
    }
}
