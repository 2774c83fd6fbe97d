import ObjectModel
import StorageNode
import XCTest

/// The listing index on a node, for every implementation of the node protocol.
extension NodeClientConformanceTests {
    /// A bucket's listing index entries: the newest merge wins in any order, a replace changes only the version it
    /// names, entries carry no key material, the index is listed apart from the objects and purged with the bucket,
    /// and a node refuses edits addressed to another jurisdiction.
    func testListingIndexEntries() async throws {
        let node = try await client()
        var newer = manifest("k", sequence: 20, size: 7)
        newer.envelope = [9, 9, 9]
        newer.sealedMetadata = [8, 8]
        newer.lock = ObjectLock(mode: .governance, retainUntilMillis: 5, legalHold: true)
        let older = manifest("k", sequence: 10, size: 3)
        let other = manifest("a", sequence: 1, size: 1)
        var outcome = try await node.apply(.index(ma, [.merge(newer), .merge(other)]))
        XCTAssertEqual(outcome, .committed)
        outcome = try await node.apply(.index(ma, [.merge(older)]))
        XCTAssertEqual(outcome, .superseded, "an older version replaced a newer entry")
        var entries = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 10, space: .index)
        XCTAssertEqual(entries, [other.listingEntry, newer.listingEntry])
        XCTAssertNil(entries[1].envelope)
        XCTAssertNil(entries[1].sealedMetadata)
        XCTAssertEqual(entries[1].lock, ObjectLock())
        XCTAssertEqual(entries[1].sizeBytes, 7)
        // The index is not the objects: nothing was committed.
        let objects = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 10)
        XCTAssertTrue(objects.isEmpty)
        // A replace naming another version changes nothing; naming the entry's, it sets it back or removes it.
        outcome = try await node.apply(.index(ma, [.replace(bucket: "bkt", key: "k", expected: VersionMark(older),
                                                            with: nil)]))
        XCTAssertEqual(outcome, .superseded)
        outcome = try await node.apply(.index(ma, [.replace(bucket: "bkt", key: "k", expected: VersionMark(newer),
                                                            with: older)]))
        XCTAssertEqual(outcome, .committed)
        entries = try await node.list(ma, bucket: "bkt", prefix: Array("k".utf8), from: [], limit: 10, space: .index)
        XCTAssertEqual(entries, [older.listingEntry])
        outcome = try await node.apply(.index(ma, [.replace(bucket: "bkt", key: "a", expected: VersionMark(other),
                                                            with: nil)]))
        XCTAssertEqual(outcome, .committed)
        entries = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 10, space: .index)
        XCTAssertEqual(entries.map(\.key), ["k"])
        do {
            _ = try await node.apply(.index(Jurisdiction("FR")!, [.merge(other)]))
            XCTFail("an index edit of another jurisdiction was accepted")
        } catch let error as NodeError {
            guard case .wrongJurisdiction = error else { return XCTFail("\(error)") }
        }
        // An entry never lands under another key, nor in another bucket's range.
        for edit in [IndexEdit.replace(bucket: "bkt", key: "k", expected: VersionMark(older), with: other),
                     .merge(ObjectManifest(bucket: "bkt\u{0}x", key: "k", versionID: .random(), sequence: 1))] {
            do {
                _ = try await node.apply(.index(ma, [edit]))
                XCTFail("\(edit) was accepted")
            } catch {}
        }
        entries = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 10, space: .index)
        XCTAssertEqual(entries, [older.listingEntry])
        try await node.purge(ma, bucket: "bkt")
        entries = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 10, space: .index)
        XCTAssertTrue(entries.isEmpty)
        // A thousand entries of the longest keys travel in runs under the node's body limit.
        let long = (0..<1000).map { ObjectManifest(bucket: "bkt", key: String(format: "%04d", $0)
                                                       + String(repeating: "x", count: 1020), versionID: .random(),
                                                   sequence: 1, etag: String(repeating: "e", count: 34)) }
        let batches = IndexEdit.batched(long.map { .merge($0) })
        XCTAssertGreaterThan(batches.count, 1)
        for batch in batches { _ = try await node.apply(.index(ma, batch)) }
        entries = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 1000, space: .index)
        XCTAssertEqual(entries.count, 1000)
    }

    /// A commit that carries the index merge (an index replica among the version's replicas) puts the entry in the
    /// same batch as the manifest, and records no intent unless asked; merged whatever the commit's outcome, as a
    /// separate edit is, so an older version never replaces a newer entry.
    func testACommitMergesIntoTheIndexInItsOwnBatch() async throws {
        let node = try await client()
        let first = manifest("both", sequence: 5, size: 1)
        var outcome = try await node.apply(.commit(ma, manifest: first, completing: nil, inlineSegment: [1],
                                                   index: true))
        XCTAssertEqual(outcome, .committed)
        var entries = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 10, space: .index)
        XCTAssertEqual(entries, [first.listingEntry])
        let stale = manifest("both", sequence: 4, size: 2)
        outcome = try await node.apply(.commit(ma, manifest: stale, completing: nil, inlineSegment: [2, 2],
                                               index: true))
        XCTAssertEqual(outcome, .superseded)
        entries = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 10, space: .index)
        XCTAssertEqual(entries, [first.listingEntry], "an older version did not replace the entry")
        try await Task.sleep(for: .milliseconds(3))
        let intents = try await node.indexIntents(ma, from: [], olderThanMillis: 0, limit: 10)
        XCTAssertEqual(intents.intents, [])
        // Refused whole in another jurisdiction: neither the manifest nor the entry.
        do {
            _ = try await node.apply(.commit(Jurisdiction("FR")!, manifest: manifest("fr", sequence: 1, size: 1),
                                             completing: nil, inlineSegment: [1], index: true))
            XCTFail("a commit addressed to another jurisdiction was applied")
        } catch {}
        entries = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 10, space: .index)
        XCTAssertEqual(entries.map(\.key), ["both"])
    }
}
