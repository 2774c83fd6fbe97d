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
        /// Checkpoints whose signature verified (the log's own and those held), empty trees not counted.
        public var checkpoints: Int
        /// Size of the largest verified checkpoint (0: none).
        public var signedThrough: UInt64
        /// The log's origin, as its checkpoints name it.
        public var origin: String?
        /// When the newest verified checkpoint was signed (ms since 1970).
        public var newestCheckpointMillis: Int64?
        /// The tree's root over every entry (base64).
        public var root: String
        public var problems: [String]

        public var isValid: Bool { problems.isEmpty }
    }

    /// What a verification requires beyond the log agreeing with every checkpoint.
    public struct Policy: Sendable {
        /// The one log accepted (`qantara/<J>/audit/<G>/<identity>`); any audit log of J when nil.
        public var origin: String?
        /// Every entry must be under a verified checkpoint (an exported log is cut at its last checkpoint); when false,
        /// entries after it are reported in ``Report/signedThrough`` but are not a problem (a live log grows).
        public var requireFullCoverage: Bool
        /// The newest verified checkpoint must be at most this old at `nowMillis`.
        public var maximumAgeMillis: Int64?
        public var nowMillis: Int64
        /// Each must have cosigned the checkpoint that covers the most entries.
        public var witnesses: [NoteKey]

        public init(origin: String? = nil, requireFullCoverage: Bool = true, maximumAgeMillis: Int64? = nil,
                    nowMillis: Int64 = 0, witnesses: [NoteKey] = []) {
            self.origin = origin
            self.requireFullCoverage = requireFullCoverage
            self.maximumAgeMillis = maximumAgeMillis
            self.nowMillis = nowMillis
            self.witnesses = witnesses
        }
    }

    /// The origin prefix of J's audit logs: `qantara/<J>/audit/`, then the writing gateway's jurisdiction and identity.
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
    /// every checkpoint of `held` too (the key store's last, a regulator's, a witness's), under `policy`.
    public static func verify(entryLines: [String], checkpointLines: [String], held: [SignedNote] = [],
                              policy: Policy = Policy(), jurisdiction: Jurisdiction,
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
            let (next, overflow) = entry.seq.addingReportingOverflow(1)
            guard !overflow else {
                problems.append("entry \(entry.seq) at line \(index + 1): no entry can follow it")
                break
            }
            expectedSeq = next
        }
        let keys = noteKeys(jurisdiction, authorities)
        var notes = [(String, SignedNote?)]()
        for (index, line) in checkpointLines.enumerated() {
            notes.append(("audit.checkpoints line \(index + 1)", AuditLog.note(line: line)))
        }
        for (index, note) in held.enumerated() { notes.append(("held checkpoint \(index + 1)", note)) }
        var signedThrough: UInt64 = 0
        var verified = 0
        var origin = policy.origin
        var roots = [UInt64: [UInt8]]()
        var times = [(size: UInt64, millis: Int64)]()
        var covering = [SignedNote]()
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
            guard checkpoint.origin.hasPrefix(originPrefix(jurisdiction)) else {
                problems.append("\(place): a checkpoint of \(checkpoint.origin), not of an audit log of \(jurisdiction)")
                continue
            }
            if let origin, origin != checkpoint.origin {
                problems.append("\(place): a checkpoint of \(checkpoint.origin), another log than \(origin)")
                continue
            }
            origin = checkpoint.origin
            // An empty tree matches every log: it proves nothing.
            guard checkpoint.size > 0 else { continue }
            verified += 1
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
            if let millis = checkpoint.timeMillis { times.append((checkpoint.size, millis)) }
            if checkpoint.size > signedThrough { covering = [] }
            if checkpoint.size >= signedThrough { covering.append(note) }
            signedThrough = max(signedThrough, checkpoint.size)
        }
        if verified == 0 {
            problems.append("no checkpoint signed by \(jurisdiction)'s authority covers this log")
        } else if policy.requireFullCoverage && signedThrough < tree.size {
            problems.append("entries \(signedThrough + 1) to \(tree.size) are under no checkpoint signed by "
                + "\(jurisdiction)'s authority (added after it, or forged)")
        }
        let ordered = times.sorted { $0.size < $1.size }
        if zip(ordered, ordered.dropFirst()).contains(where: { $0.millis > $1.millis }) {
            problems.append("a larger checkpoint was signed before a smaller one (the key store's state was rolled back)")
        }
        let newest = times.map(\.millis).max()
        if let maximum = policy.maximumAgeMillis {
            if let newest {
                if policy.nowMillis - newest > maximum {
                    problems.append("the newest checkpoint was signed at \(Timestamps.iso8601(millis: newest)), more than "
                        + "\(maximum / 1000) s before now")
                }
            } else {
                problems.append("no checkpoint tells when it was signed")
            }
        }
        for witness in policy.witnesses {
            let cosigned = covering.contains { note in
                note.signatures.contains { witness.verifies($0, of: note.text).valid }
            }
            if !cosigned {
                problems.append("the checkpoint of \(signedThrough) entries is not cosigned by the witness \(witness.name)")
            }
        }
        return Report(entries: entryLines.count, checkpoints: verified, signedThrough: signedThrough, origin: origin,
                      newestCheckpointMillis: newest, root: Base64.encode(tree.root(size: tree.size)),
                      problems: problems)
    }

    /// Verifies the log files in `directory`.
    public static func verify(directory: String, held: [SignedNote] = [], policy: Policy = Policy(),
                              jurisdiction: Jurisdiction, authorities: Sovereignty.Authorities) throws -> Report {
        verify(entryLines: try AuditLog.readLines(directory + "/audit.log"),
               checkpointLines: try AuditLog.readLines(directory + "/audit.checkpoints"), held: held,
               policy: policy, jurisdiction: jurisdiction, authorities: authorities)
    }
}
