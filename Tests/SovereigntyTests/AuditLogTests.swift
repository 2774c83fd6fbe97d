import Foundation
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

    /// Appends `count` entries, signing a head after every fourth.
    func fill(_ log: AuditLog, count: Int) throws {
        for index in 0..<count {
            try log.append(kind: "decision", fields: ["operation": "GetObject", "key": "k\(index)",
                                                      "outcome": index % 2 == 0 ? "refused" : "allowed"])
            if (index + 1) % 4 == 0 { try log.signHead(kid: "MA-authority-v1", with: authority) }
        }
    }

    func lines(_ name: String) throws -> [String] { try AuditLog.readLines(directory + "/" + name) }

    func verify(_ entries: [String], _ heads: [String]? = nil) throws -> AuditVerifier.Report {
        AuditVerifier.verify(entryLines: entries, headLines: try heads ?? lines("audit.heads"), jurisdiction: ma,
                             authorities: authorities)
    }

    func testIntactLogVerifiesAndContinuesAfterReopening() throws {
        try fill(try makeLog(), count: 10)
        let reopened = try makeLog()
        try fill(reopened, count: 3)
        try reopened.signHead(kid: "MA-authority-v1", with: authority)
        let report = try AuditVerifier.verify(directory: directory, jurisdiction: ma, authorities: authorities)
        XCTAssertTrue(report.isValid, "\(report.problems)")
        XCTAssertEqual(report.entries, 13)
        XCTAssertEqual(report.signedThrough, 13)
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

        // Entries 1-12 with heads at 4, 8 and 12: dropping the tail after a signed head is seen.
        let truncated = Array(entries.prefix(10))
        XCTAssertTrue(try verify(truncated).problems.contains { $0.contains("truncated") })

        // A rewritten history with recomputed hashes still fails against the signed heads.
        var rewritten = [String]()
        var previous = AuditEntry.genesis
        for line in entries {
            var entry = try JSONDecoder().decode(AuditEntry.self, from: Data(line.utf8))
            entry.fields["outcome"] = "allowed"
            entry.previous = previous
            entry.hash = entry.computedHash()
            previous = entry.hash
            rewritten.append(String(decoding: try JSONEncoder().encode(entry), as: UTF8.self))
        }
        XCTAssertTrue(try verify(rewritten).problems.contains { $0.contains("differs from what was signed") })

        // A head signed by another key does not verify.
        var heads = try lines("audit.heads")
        var head = try JSONDecoder().decode(AuditHead.self, from: Data(heads[0].utf8))
        head.signature = Base64URL.encode(Ed25519.KeyPair.generate().sign(head.signedBytes))
        heads[0] = String(decoding: try JSONEncoder().encode(head), as: UTF8.self)
        XCTAssertTrue(try verify(entries, heads).problems.contains { $0.contains("signature does not verify") })
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
