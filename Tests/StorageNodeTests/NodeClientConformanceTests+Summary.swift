import ObjectModel
import StorageNode
import XCTest

/// A node's side of anti-entropy, for every implementation of the node protocol.
extension NodeClientConformanceTests {
    /// What a summary counts: each version for each peer placement gives it with, versions placement does not give
    /// the node, old plain tombstones, the current versions of keys the node ranks first for, its index entries (or,
    /// when it does not index the bucket, that it holds some).
    func testBucketSummaries() async throws {
        let node = try await client()
        let objects = ["a", "b", "c", "d/e"].enumerated().map { manifest($1, sequence: UInt64($0 + 1), size: 5) }
        var tombstone = manifest("gone", sequence: 9, size: 0)
        tombstone.isTombstone = true
        for manifest in objects + [tombstone] { _ = try await node.commit(ma, manifest: manifest) }
        _ = try await node.apply(.index(ma, objects.map { .merge($0) }))
        let pair = [NodeID("ma-1")!, NodeID("ma-2")!]
        let plan = SummaryPlan(active: pair, draining: [], replicas: 2, indexReplicas: [pair[0]], tombstonesBefore: 2)
        let summary = try await node.summarize(ma, bucket: "bkt", plan: plan)
        var expected = PartitionSums(), first = PartitionSums()
        for manifest in objects + [tombstone] {
            let partition = KeyPartition.of(Array(manifest.key.utf8))
            expected.add(partition, manifest.summaryHash)
            if plan.preferred(bucket: "bkt", key: manifest.key).first == pair[0] {
                first.add(partition, manifest.summaryHash)
            }
        }
        XCTAssertEqual(summary.shared, [pair[1]: expected])
        XCTAssertEqual(summary.primary, first)
        var index = PartitionSums()
        for manifest in objects { index.add(KeyPartition.of(Array(manifest.key.utf8)), manifest.listingEntry.summaryHash) }
        XCTAssertEqual(summary.index, index, "an entry sums as its version does")
        XCTAssertEqual(summary.versions, 5)
        XCTAssertEqual(summary.collectable, 1)
        var tombstonePartition = KeyPartitions()
        tombstonePartition.insert(KeyPartition.of(Array("gone".utf8)))
        XCTAssertEqual(summary.collectablePartitions, tombstonePartition)
        XCTAssertEqual(summary.misplaced, 0)
        XCTAssertTrue(summary.misplacedPartitions.isEmpty)
        XCTAssertEqual(summary.strayIndexEntries, 0)
        XCTAssertEqual(try BucketSummary(decoding: summary.encoded()), summary)
        // Placed by a topology without this node: everything is misplaced, and its index entries are strays.
        let elsewhere = SummaryPlan(active: [NodeID("ma-2")!, NodeID("ma-3")!], draining: [pair[0]], replicas: 2,
                                    indexReplicas: [NodeID("ma-2")!], tombstonesBefore: 0)
        let moved = try await node.summarize(ma, bucket: "bkt", plan: elsewhere)
        XCTAssertEqual(moved.misplaced, 5)
        XCTAssertEqual(moved.misplacedPartitions.count,
                       Set((objects + [tombstone]).map { KeyPartition.of(Array($0.key.utf8)) }).count)
        XCTAssertTrue(moved.shared.isEmpty)
        XCTAssertNil(moved.index)
        XCTAssertEqual(moved.strayIndexEntries, 4)
        XCTAssertEqual(moved.collectable, 0)
        // Versions and entries modified at or after `summedBefore` are left out of the sums, not of the counts.
        var recent = plan
        recent.summedBefore = 1
        let early = try await node.summarize(ma, bucket: "bkt", plan: recent)
        XCTAssertEqual(early.versions, 5)
        XCTAssertTrue(early.shared.isEmpty, "every version was modified at 1")
        XCTAssertEqual(early.primary, PartitionSums())
        XCTAssertEqual(early.index, PartitionSums())
        XCTAssertEqual(early.collectable, 1)
        // A plan asking for more replicas than nodes, or another jurisdiction, is refused.
        for (jurisdiction, bad) in [(ma, SummaryPlan(active: pair, draining: [], replicas: 3, indexReplicas: [],
                                                     tombstonesBefore: 0)),
                                    (Jurisdiction("FR")!, plan)] {
            do {
                _ = try await node.summarize(jurisdiction, bucket: "bkt", plan: bad)
                XCTFail("a summary of \(jurisdiction) with \(bad.replicas) replicas was made")
            } catch {}
        }
    }

    /// A listing filtered by partitions gives exactly the records of those partitions, in order, page by page.
    func testPartitionListings() async throws {
        let node = try await client()
        let keys = (0..<40).map { "key-\($0)" }
        for (index, key) in keys.enumerated() {
            let manifest = manifest(key, sequence: UInt64(index + 1), size: 3)
            _ = try await node.commit(ma, manifest: manifest)
            _ = try await node.apply(.index(ma, [.merge(manifest)]))
        }
        var chosen = KeyPartitions()
        for key in keys.prefix(5) { chosen.insert(KeyPartition.of(Array(key.utf8))) }
        let wanted = keys.filter { chosen.contains(KeyPartition.of(Array($0.utf8))) }.sorted()
        XCTAssertEqual(try KeyPartitions(decoding: chosen.encoded()), chosen)
        for space in [RecordSpace.versions, .current, .index] {
            for limit in [1, 3, 1000] {
                var found = [String](), position: VersionPosition? = VersionPosition(key: [])
                while let from = position {
                    let batch = try await node.listPartitions(ma, bucket: "bkt", space: space, partitions: chosen,
                                                              from: from, limit: limit)
                    XCTAssertLessThanOrEqual(batch.versions.count, limit)
                    found += batch.versions.map(\.key)
                    position = batch.next
                }
                XCTAssertEqual(found, wanted, "\(space), \(limit) a page")
            }
            let everything = try await node.listPartitions(ma, bucket: "bkt", space: space, partitions: .all,
                                                           from: VersionPosition(key: []), limit: 1000)
            XCTAssertEqual(everything.versions.map(\.key), keys.sorted())
            let none = try await node.listPartitions(ma, bucket: "bkt", space: space, partitions: KeyPartitions(),
                                                     from: VersionPosition(key: []), limit: 1)
            XCTAssertTrue(none.versions.isEmpty)
        }
    }

    /// A partition listing of versions pages through a key's many versions, a delete marker and a plain tombstone,
    /// in listing order, whatever the page size.
    func testPartitionListingsOfVersionsPageWithinAKey() async throws {
        let node = try await client()
        var expected = [ObjectManifest]()
        for sequence in 1...7 { expected.append(version("many", sequence: UInt64(sequence))) }
        expected.append(version("many", sequence: 8, marker: true))
        for manifest in expected { _ = try await put(node, manifest) }
        var tombstone = manifest("plain", sequence: 9, size: 0)
        tombstone.isTombstone = true
        _ = try await node.commit(ma, manifest: tombstone)
        var chosen = KeyPartitions()
        chosen.insert(KeyPartition.of(Array("many".utf8)))
        chosen.insert(KeyPartition.of(Array("plain".utf8)))
        let wanted = (expected.reversed() + [tombstone]).sorted { $0.precedesInVersionOrder($1) }
        for limit in [1, 2, 3, 1000] {
            var found = [ObjectManifest](), position: VersionPosition? = VersionPosition(key: [])
            while let from = position {
                let batch = try await node.listPartitions(ma, bucket: "bkt", space: .versions, partitions: chosen,
                                                          from: from, limit: limit)
                XCTAssertLessThanOrEqual(batch.versions.count, limit)
                found += batch.versions
                position = batch.next
            }
            XCTAssertEqual(found.map(\.versionID), wanted.map(\.versionID), "\(limit) a page")
        }
    }
}
