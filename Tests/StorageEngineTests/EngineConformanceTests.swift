import Foundation
import StorageEngine
import XCTest

/// One suite, two engines: whatever holds for the in-memory engine holds for RocksDB, and the reverse.
class EngineConformanceTests: XCTestCase {
    /// Overridden by each engine's subclass.
    func makeEngine() throws -> any KeyValueEngine { MemoryEngine() }

    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func testPutGetDelete() throws {
        let engine = try makeEngine()
        defer { engine.close() }
        XCTAssertNil(try engine.get(bytes("a")))
        try engine.put(bytes("a"), bytes("1"), sync: true)
        XCTAssertEqual(try engine.get(bytes("a")), bytes("1"))
        try engine.put(bytes("a"), bytes("2"), sync: false)
        XCTAssertEqual(try engine.get(bytes("a")), bytes("2"))
        var batch = WriteBatch()
        batch.delete(bytes("a"))
        try engine.write(batch, sync: true)
        XCTAssertNil(try engine.get(bytes("a")))
    }

    func testInMemoryReadsSeeRecentWritesAndAbsence() throws {
        let engine = try makeEngine()
        defer { engine.close() }
        try engine.put(bytes("fresh"), bytes("v"), sync: true)
        guard case .done(let value) = try engine.withValueInMemory(bytes("fresh"), verifyChecksums: true, { Array($0) })
        else { return XCTFail("a value still in the memtable is in memory") }
        XCTAssertEqual(value, bytes("v"))
        guard case .done(nil) = try engine.withValueInMemory(bytes("absent"), verifyChecksums: true, { Array($0) })
        else { return XCTFail("absence is known from memory in a database without files") }
    }

    func testEmptyValueIsNotAbsent() throws {
        let engine = try makeEngine()
        defer { engine.close() }
        try engine.put(bytes("k"), [], sync: true)
        XCTAssertEqual(try engine.get(bytes("k")), [])
    }

    func testBatchIsAtomicAndOrdered() throws {
        let engine = try makeEngine()
        defer { engine.close() }
        var batch = WriteBatch()
        batch.put(bytes("x"), bytes("1"))
        batch.put(bytes("y"), bytes("2"))
        batch.delete(bytes("x"))
        batch.put(bytes("z"), bytes("3"))
        try engine.write(batch, sync: true)
        XCTAssertNil(try engine.get(bytes("x")))
        XCTAssertEqual(try engine.scan(from: [], to: nil, limit: 10).map(\.key), [bytes("y"), bytes("z")])
    }

    func testScanIsBytewiseOrderedAndBounded() throws {
        let engine = try makeEngine()
        defer { engine.close() }
        let keys: [[UInt8]] = [[0x00], [0x01, 0xFF], [0x02], [0x7F], [0x80], [0xFF], [0xFF, 0x00]]
        for key in keys.shuffled() { try engine.put(key, key, sync: false) }
        XCTAssertEqual(try engine.scan(from: [], to: nil, limit: 100).map(\.key), keys)
        XCTAssertEqual(try engine.scan(from: [0x01], to: [0x80], limit: 100).map(\.key), [[0x01, 0xFF], [0x02], [0x7F]])
        XCTAssertEqual(try engine.scan(from: [0x01], to: nil, limit: 2).map(\.key), [[0x01, 0xFF], [0x02]])
        XCTAssertEqual(try engine.count(from: [0x7F], to: [0xFF]), 2)
        XCTAssertEqual(try engine.count(from: [], to: nil), keys.count)
        XCTAssertEqual(try engine.keys(from: [0x01], to: [0x80], limit: 100), [[0x01, 0xFF], [0x02], [0x7F]])
        XCTAssertEqual(try engine.keys(from: [0x7F], to: nil, limit: 3), [[0x7F], [0x80], [0xFF]])
    }

    func testDeleteRangeRemovesHalfOpenInterval() throws {
        let engine = try makeEngine()
        defer { engine.close() }
        for index in 0..<10 { try engine.put([UInt8(index)], [1], sync: false) }
        var batch = WriteBatch()
        batch.deleteRange(from: [3], to: [7])
        try engine.write(batch, sync: true)
        XCTAssertEqual(try engine.scan(from: [], to: nil, limit: 100).map { $0.key[0] }, [0, 1, 2, 7, 8, 9])
    }

    func testLargeValuesRoundTrip() throws {
        let engine = try makeEngine()
        defer { engine.close() }
        let value = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try engine.put(bytes("big"), value, sync: true)
        try engine.compact()
        XCTAssertEqual(try engine.get(bytes("big")), value)
    }

    func testClosedEngineThrows() throws {
        let engine = try makeEngine()
        engine.close()
        XCTAssertThrowsError(try engine.get(bytes("a"))) {
            guard case StorageEngineError.closed = $0 else { return XCTFail("\($0)") }
        }
    }

    func testConcurrentWritersAllLand() throws {
        let engine = try makeEngine()
        defer { engine.close() }
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<200 {
                try! engine.put(Array("w\(worker)-\(index)".utf8), [UInt8(worker)], sync: index % 20 == 0)
            }
        }
        XCTAssertEqual(try engine.count(from: [], to: nil), 1600)
    }

    func testPrefixSuccessor() {
        XCTAssertEqual(prefixSuccessor([0x61, 0x62]), [0x61, 0x63])
        XCTAssertEqual(prefixSuccessor([0x61, 0xFF]), [0x62])
        XCTAssertNil(prefixSuccessor([0xFF, 0xFF]))
    }
}

final class MemoryEngineConformanceTests: EngineConformanceTests {}

final class RocksDBEngineConformanceTests: EngineConformanceTests {
    var directories: [URL] = []

    override func makeEngine() throws -> any KeyValueEngine { try RocksDBEngine(path: newDirectory()) }

    /// A fresh database directory, removed at tear-down.
    func newDirectory() -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qantara-engine-\(UUID())")
        directories.append(directory)
        return directory.path
    }

    /// Writes `pairs` to a new database, closes it, and returns the database reopened.
    func reopenedDatabase(with pairs: [(String, String)], compacted: Bool) throws -> RocksDBEngine {
        let path = newDirectory()
        do {
            let engine = try RocksDBEngine(path: path)
            for (key, value) in pairs { try engine.put(bytes(key), bytes(value), sync: true) }
            if compacted { try engine.compact() }
            engine.close()
        }
        return try RocksDBEngine(path: path)
    }

    override func tearDown() {
        for directory in directories { try? FileManager.default.removeItem(at: directory) }
        directories = []
    }

    func testInMemoryReadOfAValueOnlyOnDiskNeedsIOUntilItIsCached() throws {
        let reopened = try reopenedDatabase(with: [("flushed", "on disk")], compacted: true)
        defer { reopened.close() }
        let read = { try reopened.withValueInMemory(self.bytes("flushed"), verifyChecksums: true) { Array($0) } }
        guard case .needsIO = try read() else { return XCTFail("a fresh block cache cannot hold the value") }
        XCTAssertEqual(try reopened.get(bytes("flushed")), bytes("on disk"))
        guard case .done(let value) = try read() else { return XCTFail("the read cached the value's block") }
        XCTAssertEqual(value, bytes("on disk"))
    }

    func testDataSurvivesReopen() throws {
        let reopened = try reopenedDatabase(with: [("durable", "yes")], compacted: false)
        defer { reopened.close() }
        XCTAssertEqual(try reopened.get(bytes("durable")), bytes("yes"))
    }
}
