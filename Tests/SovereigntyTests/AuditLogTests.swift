import Foundation
import Hashing
import ObjectModel
@testable import Sovereignty
import XCTest

final class AuditLogTests: XCTestCase {
    let ma = Jurisdiction("MA")!
    let authority = Ed25519.KeyPair.generate()
    var directory = ""

    override func setUp() {
        directory = NSTemporaryDirectory() + "qantara-audit-\(UUID())"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    var authorities: Sovereignty.Authorities { ["MA-authority-v1": (ma, authority.publicKey)] }

    func makeLog() throws -> AuditLog {
        try AuditLog(jurisdiction: ma, directory: directory, now: { 1_800_000_000_000 })
    }

    let origin = "qantara/MA/audit/gateway"

    /// Appends `count` entries, signing a checkpoint after every fourth.
    func fill(_ log: AuditLog, count: Int) throws {
        for index in 0..<count {
            try log.append(kind: "decision", fields: ["operation": "GetObject", "key": "k\(index)",
                                                      "outcome": index % 2 == 0 ? "refused" : "allowed"])
            if (index + 1) % 4 == 0 { try log.signCheckpoint(origin: origin, kid: "MA-authority-v1", with: authority) }
        }
    }

    func lines(_ name: String) throws -> [String] { try AuditLog.readLines(directory + "/" + name) }

    func verify(_ entries: [String], _ checkpoints: [String]? = nil, held: [SignedNote] = []) throws
        -> AuditVerifier.Report
    {
        AuditVerifier.verify(entryLines: entries, checkpointLines: try checkpoints ?? lines("audit.checkpoints"),
                             held: held, jurisdiction: ma, authorities: authorities)
    }

    /// The hand-written line is JSON any decoder reads back to the same entry, whatever the fields hold.
    func testEntryLinesAreJSONThatDecodesToTheEntry() throws {
        var entry = AuditEntry(seq: 42, timeMillis: -7, kind: "placement", fields: [
            "key": "a/\"b\"\\c\n\r\t\u{1}\u{1f}\u{7f}é日本/😀", "z": "", "A": "upper", "é": "accent",
        ], previous: AuditEntry.genesis, hash: "")
        entry.hash = entry.computedHash()
        let line = entry.jsonLine()
        XCTAssertEqual(try JSONDecoder().decode(AuditEntry.self, from: Data(line)), entry)
        XCTAssertFalse(line.contains(0x0A))
        let text = String(decoding: line, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("{\"fields\":{\"A\":\"upper\",\"key\":"), text)
        XCTAssertTrue(text.contains("\"kind\":\"placement\""))
        XCTAssertTrue(text.hasSuffix(",\"seq\":42,\"timeMillis\":-7}"), text)
        let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
        XCTAssertEqual(object?.keys.sorted(), ["fields", "hash", "kind", "previous", "seq", "timeMillis"])
    }

    func testIntactLogVerifiesAndContinuesAfterReopening() throws {
        try fill(try makeLog(), count: 10)
        let reopened = try makeLog()
        try fill(reopened, count: 3)
        try reopened.signCheckpoint(origin: origin, kid: "MA-authority-v1", with: authority)
        let report = try AuditVerifier.verify(directory: directory, jurisdiction: ma, authorities: authorities)
        XCTAssertTrue(report.isValid, "\(report.problems)")
        XCTAssertEqual(report.entries, 13)
        XCTAssertEqual(report.signedThrough, 13)
        XCTAssertEqual(report.checkpoints, 3)
        XCTAssertEqual(try reopened.root(size: 13), Base64.decode(report.root))
        XCTAssertEqual(try reopened.entries().map(\.seq), Array(1...13))
    }

    func testEveryKindOfTamperingIsDetected() throws {
        try fill(try makeLog(), count: 12)
        let entries = try lines("audit.log")
        XCTAssertTrue(try verify(entries).isValid)

        var edited = entries
        edited[4] = edited[4].replacingOccurrences(of: "refused", with: "allowed")
        XCTAssertTrue(try verify(edited).problems.contains { $0.contains("entry 5") && $0.contains("edited") })

        var deleted = entries
        deleted.remove(at: 6)
        XCTAssertTrue(try verify(deleted).problems.contains { $0.contains("expected entry 7") })

        var inserted = entries
        inserted.insert(entries[2], at: 8)
        XCTAssertFalse(try verify(inserted).isValid)

        var reordered = entries
        reordered.swapAt(3, 4)
        XCTAssertFalse(try verify(reordered).isValid)

        // Entries 1-12 with checkpoints at 4, 8 and 12: dropping the tail after a checkpoint is seen.
        let truncated = Array(entries.prefix(10))
        XCTAssertTrue(try verify(truncated).problems.contains { $0.contains("truncated") })

        // A rewritten history with recomputed hashes still fails against the checkpoints.
        let rewritten = try rechained(entries) { $0.fields["outcome"] = "allowed" }
        XCTAssertTrue(try verify(rewritten).problems.contains { $0.contains("rewritten") })

        // A checkpoint signed by another key does not verify.
        var checkpoints = try lines("audit.checkpoints")
        let forged = try forge(AuditLog.note(line: checkpoints[0])!.text, with: Ed25519.KeyPair.generate())
        checkpoints[0] = String(decoding: try JSONEncoder().encode(forged.serialized), as: UTF8.self)
        XCTAssertTrue(try verify(entries, checkpoints).problems.contains { $0.contains("did not sign it") })
    }

    /// `entries` edited by `edit`, with every hash and link recomputed: a history that passes the chain check.
    func rechained(_ entries: [String], _ edit: (inout AuditEntry) -> Void) throws -> [String] {
        var rewritten = [String]()
        var previous = AuditEntry.genesis
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for line in entries {
            var entry = try JSONDecoder().decode(AuditEntry.self, from: Data(line.utf8))
            edit(&entry)
            entry.previous = previous
            entry.hash = entry.computedHash()
            previous = entry.hash
            rewritten.append(String(decoding: try encoder.encode(entry), as: UTF8.self))
        }
        return rewritten
    }

    func forge(_ text: String, with pair: Ed25519.KeyPair) throws -> SignedNote {
        SignedNote(text: text, signatures: [NoteKey(name: "MA-authority-v1", publicKey: pair.publicKey).sign(text, with: pair)])
    }

    /// The attacks the hash chain alone missed: the tail cut together with the checkpoints after it, and a history
    /// recomputed without its checkpoints. Both fail against the checkpoint the authority last signed (the key store
    /// keeps it), and a log forked at the same size is named as such.
    func testCutsAndRewritesWithoutTheirCheckpointsFailAgainstTheLastSignedCheckpoint() throws {
        let log = try makeLog()
        try fill(log, count: 12)
        let latest = try log.signCheckpoint(origin: origin, kid: "MA-authority-v1", with: authority)
        let entries = try lines("audit.log")
        let checkpoints = try lines("audit.checkpoints")

        // The tail (entries 9-12) cut, with the checkpoints that covered it: the chain and the log's own
        // checkpoints agree, only the authority's last checkpoint shows the cut.
        XCTAssertTrue(try verify(Array(entries.prefix(8)), Array(checkpoints.prefix(2))).isValid)
        let cut = try verify(Array(entries.prefix(8)), Array(checkpoints.prefix(2)), held: [latest])
        XCTAssertTrue(cut.problems.contains { $0.contains("held checkpoint 1") && $0.contains("truncated") }, "\(cut.problems)")

        // A history recomputed from the start, without any checkpoint.
        let rewritten = try rechained(entries) { if $0.seq == 3 { $0.fields["outcome"] = "allowed" } }
        XCTAssertEqual(try verify(rewritten, []).problems, ["no checkpoint signed by MA's authority covers this log"])
        XCTAssertTrue(try verify(rewritten, [], held: [latest]).problems.contains { $0.contains("rewritten") })

        // A second checkpoint of the same size with another root: a fork.
        let rewrittenTree = rewritten.reduce(into: MerkleLevels()) { $0.append(leaf: Array($1.utf8)) }
        let fork = try forge(Checkpoint(origin: origin, size: 12, root: rewrittenTree.root(size: 12)).body, with: authority)
        XCTAssertTrue(try verify(entries, held: [latest, fork]).problems.contains { $0.contains("forked") })

        // A checkpoint of another jurisdiction's log, even validly signed, is not evidence for this one.
        let foreign = try forge(Checkpoint(origin: "qantara/FR/audit/gateway", size: 12, root: rewrittenTree.root(size: 12)).body,
                                with: authority)
        XCTAssertTrue(try verify(entries, held: [foreign]).problems.contains { $0.contains("not of an audit log of MA") })
    }

    /// What else a verifier holding the anchor requires: every entry under a checkpoint, no empty-tree checkpoint
    /// counted, times that grow with the tree, a fresh enough checkpoint, the pinned origin, the witness's
    /// cosignature on the covering checkpoint.
    func testVerificationPolicy() throws {
        let log = try makeLog()
        try fill(log, count: 8)
        let entries = try lines("audit.log")
        let checkpoints = try lines("audit.checkpoints")
        XCTAssertTrue(try verify(entries, checkpoints).isValid)
        // A forged entry after the last checkpoint, with a valid chain: entries 1-8 keep their bytes.
        var seq: UInt64 = 0
        let extended = try rechained(entries + [entries[7]]) { entry in
            seq += 1
            entry.seq = seq
        }
        XCTAssertEqual(Array(extended.prefix(8)), entries)
        let tail = AuditVerifier.verify(entryLines: extended, checkpointLines: checkpoints,
                                        policy: AuditVerifier.Policy(), jurisdiction: ma, authorities: authorities)
        XCTAssertTrue(tail.problems.contains { $0.contains("entries 9 to 9 are under no checkpoint") }, "\(tail.problems)")
        let live = AuditVerifier.verify(entryLines: extended, checkpointLines: checkpoints,
                                        policy: .init(requireFullCoverage: false), jurisdiction: ma,
                                        authorities: authorities)
        XCTAssertTrue(live.isValid, "\(live.problems)")
        XCTAssertEqual(live.signedThrough, 8)

        // An empty-tree checkpoint matches any log and counts for nothing.
        let empty = try forge(Checkpoint(origin: origin, size: 0, root: MerkleTree.emptyRoot).body, with: authority)
        XCTAssertEqual(try verify(entries, [], held: [empty]).problems, ["no checkpoint signed by MA's authority covers this log"])

        // Times going backwards as the tree grows: a rolled-back key store.
        let early = try forge(Checkpoint(origin: origin, size: 8, root: try log.root(size: 8),
                                         extensions: ["time 1000"]).body, with: authority)
        let late = try forge(Checkpoint(origin: origin, size: 4, root: try log.root(size: 4),
                                        extensions: ["time 2000"]).body, with: authority)
        XCTAssertTrue(try verify(entries, [], held: [early, late]).problems.contains { $0.contains("rolled back") })

        // Freshness.
        let stale = AuditVerifier.verify(entryLines: entries, checkpointLines: checkpoints,
                                         policy: .init(maximumAgeMillis: 60_000, nowMillis: 1_800_000_120_000),
                                         jurisdiction: ma, authorities: authorities)
        XCTAssertTrue(stale.problems.contains { $0.contains("more than 60 s before now") })
        XCTAssertTrue(AuditVerifier.verify(entryLines: entries, checkpointLines: checkpoints,
                                           policy: .init(maximumAgeMillis: 60_000, nowMillis: 1_800_000_030_000),
                                           jurisdiction: ma, authorities: authorities).isValid)

        // The pinned origin.
        let pinned = AuditVerifier.verify(entryLines: entries, checkpointLines: checkpoints,
                                          policy: .init(origin: "qantara/MA/audit/MA/other"), jurisdiction: ma,
                                          authorities: authorities)
        XCTAssertTrue(pinned.problems.contains { $0.contains("another log") })

        // A witness's cosignature counts only on the checkpoint that covers the log.
        let witnessPair = Ed25519.KeyPair.generate()
        let witness = NoteKey(name: "dpa.example/witness", publicKey: witnessPair.publicKey, kind: .cosignature)
        var older = try XCTUnwrap(AuditLog.note(line: checkpoints[0]))
        older.signatures.append(witness.sign(older.text, with: witnessPair, time: 1))
        let notCovering = AuditVerifier.verify(entryLines: entries, checkpointLines: checkpoints, held: [older],
                                               policy: .init(witnesses: [witness]), jurisdiction: ma,
                                               authorities: authorities)
        XCTAssertTrue(notCovering.problems.contains { $0.contains("not cosigned by the witness") })
        var newest = try XCTUnwrap(AuditLog.note(line: checkpoints[1]))
        newest.signatures.append(witness.sign(newest.text, with: witnessPair, time: 1))
        XCTAssertTrue(AuditVerifier.verify(entryLines: entries, checkpointLines: checkpoints, held: [newest],
                                           policy: .init(witnesses: [witness]), jurisdiction: ma,
                                           authorities: authorities).isValid)
    }

    func testProofFilesVerifyOfflineAndRefuseForgeries() throws {
        let log = try makeLog()
        try fill(log, count: 6)
        let old = try log.signCheckpoint(origin: origin, kid: "MA-authority-v1", with: authority)
        try fill(log, count: 5)
        let new = try log.signCheckpoint(origin: origin, kid: "MA-authority-v1", with: authority)
        let keys = AuditVerifier.noteKeys(ma, authorities)
        let entries = try lines("audit.log")
        let (line, path) = try log.inclusionProof(seq: 3, size: 11)
        XCTAssertEqual(line, entries[2])
        var inclusion = LogProof(kind: .inclusion, entry: line, index: 2, checkpoint: new.serialized,
                                 proof: path.map { Base64.encode($0) })
        guard case .success = inclusion.verify(keys: keys) else { return XCTFail("\(inclusion.verify(keys: keys))") }
        inclusion.entry = entries[3]
        guard case .failure = inclusion.verify(keys: keys) else { return XCTFail("another entry verified") }

        var consistency = LogProof(kind: .consistency, oldCheckpoint: old.serialized, checkpoint: new.serialized,
                                   proof: try log.consistencyProof(from: 6, to: 11).map { Base64.encode($0) })
        guard case .success = consistency.verify(keys: keys) else { return XCTFail("\(consistency.verify(keys: keys))") }
        guard case .failure = consistency.verify(keys: [NoteKey(name: "MA-authority-v1",
                                                               publicKey: Ed25519.KeyPair.generate().publicKey)]) else {
            return XCTFail("verified without the authority's key")
        }
        consistency.oldCheckpoint = try forge(Checkpoint(origin: origin, size: 6, root: MerkleTree.leafHash([1])).body,
                                              with: authority).serialized
        guard case .failure(let failure) = consistency.verify(keys: keys) else { return XCTFail("a fork verified") }
        XCTAssertTrue(failure.reason.contains("not a consistent extension"))
    }

    func testAppendFailsClosedWhenTheLogCannotBeWritten() throws {
        let log = try makeLog()
        try fill(log, count: 1)
        try FileManager.default.removeItem(atPath: directory + "/audit.log")
        try FileManager.default.createDirectory(atPath: directory + "/audit.log", withIntermediateDirectories: false)
        XCTAssertThrowsError(try log.append(kind: "decision", fields: [:])) { error in
            guard case .unwritable? = error as? AuditError else { return XCTFail("\(error)") }
        }
    }
}
