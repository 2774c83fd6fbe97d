import Foundation
import ObjectModel

/// Checks an audit log offline: the hash chain of its entries and the signatures of its heads. Every problem is
/// reported with the line or sequence number it concerns.
public enum AuditVerifier {
    public struct Report: Sendable, Equatable {
        public var entries: Int
        public var heads: Int
        /// Sequence number covered by the newest valid signed head (0: none).
        public var signedThrough: UInt64
        public var problems: [String]

        public var isValid: Bool { problems.isEmpty }
    }

    /// Verifies the lines of `audit.log` and `audit.heads` against the jurisdiction's authority keys.
    public static func verify(entryLines: [String], headLines: [String], jurisdiction: Jurisdiction,
                              authorities: Sovereignty.Authorities) -> Report {
        var problems = [String]()
        var hashes = [UInt64: String]()
        var expectedSeq: UInt64 = 1
        var previous = AuditEntry.genesis
        for (index, line) in entryLines.enumerated() {
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
            hashes[entry.seq] = entry.hash
            previous = entry.hash
            expectedSeq = entry.seq + 1
        }
        let lastSeq = expectedSeq - 1
        var signedThrough: UInt64 = 0
        var headCount = 0
        for (index, line) in headLines.enumerated() {
            guard let head = try? JSONDecoder().decode(AuditHead.self, from: Data(line.utf8)) else {
                problems.append("audit.heads line \(index + 1): not a signed head")
                continue
            }
            headCount += 1
            guard head.jurisdiction == jurisdiction, let authority = authorities[head.kid],
                  authority.jurisdiction == jurisdiction,
                  let signature = Base64URL.decode(head.signature),
                  Ed25519.verify(signature, of: head.signedBytes, publicKey: authority.publicKey) else {
                problems.append("head \(index + 1) (entry \(head.seq)): signature does not verify with \(jurisdiction)'s authority key")
                continue
            }
            guard head.seq <= lastSeq else {
                problems.append("head \(index + 1) signs entry \(head.seq) but the log ends at entry \(lastSeq) (truncated)")
                continue
            }
            if hashes[head.seq] != head.hash {
                problems.append("head \(index + 1): entry \(head.seq) differs from what was signed")
            }
            signedThrough = max(signedThrough, head.seq)
        }
        return Report(entries: entryLines.count, heads: headCount, signedThrough: signedThrough, problems: problems)
    }

    /// Verifies the log files in `directory`.
    public static func verify(directory: String, jurisdiction: Jurisdiction, authorities: Sovereignty.Authorities)
        throws -> Report
    {
        verify(entryLines: try AuditLog.readLines(directory + "/audit.log"),
               headLines: try AuditLog.readLines(directory + "/audit.heads"), jurisdiction: jurisdiction,
               authorities: authorities)
    }
}
