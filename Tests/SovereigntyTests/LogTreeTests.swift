import Foundation
@testable import Hashing
import ObjectModel
@testable import Sovereignty
import XCTest

/// The audit log's tree keeps a 256th of its hashes in memory and reads older leaves' hashes from `audit.leaves`;
/// that file is derived from the log and rebuilt whenever it does not describe the log.
final class LogTreeTests: XCTestCase {
    let ma = Jurisdiction("MA")!
    var directory = ""

    override func setUp() {
        directory = NSTemporaryDirectory() + "qantara-logtree-\(UUID())"
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func open() throws -> AuditLog { try AuditLog(jurisdiction: ma, directory: directory, now: { 1_800_000_000_000 }) }

    /// Appends `count` entries in batches of up to 37, as group commits do.
    func fill(_ log: AuditLog, count: Int) throws {
        var written = 0
        while written < count {
            let batch = min(37, count - written)
            try log.append((0..<batch).map { index in
                (kind: "placement", fields: ["key": "k\(written + index)", "op": "put", "nodes": "ma-1,ma-2"])
            })
            written += batch
        }
    }

    /// The tree of the log's lines, all in memory.
    func reference() throws -> MerkleLevels {
        var tree = MerkleLevels()
        for line in try AuditLog.readLines(directory + "/audit.log") { tree.append(leaf: Array(line.utf8)) }
        return tree
    }

    func testProofsRootsAndTilesOfALongLogMatchTheWholeTreeWhileMemoryKeepsABlock() throws {
        let log = try open()
        try fill(log, count: 1000)
        let whole = try reference()
        XCTAssertEqual(try log.treeHead().size, 1000)
        XCTAssertEqual(try log.treeHead().root, whole.root(size: 1000))
        for size: UInt64 in [1, 255, 256, 257, 512, 700, 1000] {
            XCTAssertEqual(try log.root(size: size), whole.root(size: size), "root \(size)")
            for seq: UInt64 in [1, 2, 128, 256, 257, 511, size] where seq <= size {
                XCTAssertEqual(try log.inclusionProof(seq: seq, size: size).proof,
                               whole.inclusionProof(index: seq - 1, size: size), "inclusion \(seq) in \(size)")
            }
            for old: UInt64 in [1, 3, 256, 300] where old <= size {
                XCTAssertEqual(try log.consistencyProof(from: old, to: size),
                               whole.consistencyProof(oldSize: old, newSize: size), "consistency \(old) → \(size)")
            }
        }
        for (index, width) in [(UInt64(0), 256), (1, 256), (2, 256), (3, 232), (3, 10), (0, 5)] {
            XCTAssertEqual(try log.tile(level: 0, index: index, width: width),
                           whole.tile(level: 0, index: index, width: width), "tile 0/\(index)/\(width)")
        }
        XCTAssertEqual(try log.tile(level: 1, index: 0, width: 3), whole.tile(level: 1, index: 0, width: 3))
        XCTAssertNil(try log.tile(level: 0, index: 3, width: 256))
        XCTAssertLessThan(log.keptHashes, 256 * 2 + 16, "a block and what is above, not every hash")
        XCTAssertEqual(try log.line(seq: 300), try AuditLog.readLines(directory + "/audit.log")[299])
    }

    func testTheLeafFileIsRebuiltWheneverItDoesNotDescribeTheLog() throws {
        try fill(try open(), count: 600)
        let root = try reference().root(size: 600)
        let leaves = directory + "/audit.leaves"
        let record = LeafFile.recordSize
        // Missing, short by a crash, cut mid-record, or with its last record altered: the same tree after opening.
        let damages: [(String, (inout Data) -> Void)] = [
            ("missing", { $0 = Data() }),
            ("short", { $0 = $0.prefix(400 * record) }),
            ("partial", { $0 = $0.prefix(400 * record + 13) }),
            ("altered", { $0[$0.count - 20] ^= 1 }),
            ("longer than the log", { $0 += $0.suffix(record) }),
        ]
        for (label, damage) in damages {
            var data = try XCTUnwrap(FileManager.default.contents(atPath: leaves))
            damage(&data)
            try data.write(to: URL(fileURLWithPath: leaves))
            let log = try open()
            XCTAssertEqual(try log.treeHead().size, 600, label)
            XCTAssertEqual(try log.treeHead().root, root, label)
            XCTAssertEqual(LogFiles.size(leaves), UInt64(600 * record), label)
            try log.append(kind: "decision", fields: ["n": label])
            XCTAssertEqual(try log.treeHead().root, try reference().root(size: 601), label)
            try FileManager.default.removeItem(atPath: directory)
            try fill(try open(), count: 600)
        }
    }

    func testACutLogAndAHalfWrittenLineAreWhatTheTreeHolds() throws {
        try fill(try open(), count: 300)
        let path = directory + "/audit.log"
        let lines = try AuditLog.readLines(path)
        let kept = lines.prefix(200).map { $0 + "\n" }.joined()
        try Data((kept + String(lines[200].prefix(40))).utf8).write(to: URL(fileURLWithPath: path))
        let log = try open()
        XCTAssertEqual(try log.treeHead().size, 200)
        XCTAssertEqual(try log.treeHead().root, try reference().root(size: 200))
        XCTAssertEqual(LogFiles.size(path), UInt64(kept.utf8.count), "the half-written line is gone")
        let next = try log.append(kind: "decision", fields: ["after": "cut"])
        XCTAssertEqual(next.seq, 201)
    }

    func testAnEntryEditedInTheFileIsNeverServedWithAProof() throws {
        try fill(try open(), count: 10)
        let path = directory + "/audit.log"
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"k3\"", with: "\"k9\"")
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let log = try open()
        XCTAssertThrowsError(try log.inclusionProof(seq: 4, size: 10)) { error in
            XCTAssertTrue("\(error)".contains("altered"), "\(error)")
        }
        XCTAssertNoThrow(try log.inclusionProof(seq: 5, size: 10))
    }
}
