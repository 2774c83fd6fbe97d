import ObjectModel
import StorageNode
import XCTest

/// Index intents on a node, for every implementation of the node protocol: written in the same commit as a client's
/// write or deletion, listed once old enough, reported gone when their version went, cleared by reference.
extension NodeClientConformanceTests {
    func reference(_ kind: IndexIntent.Kind, _ manifest: ObjectManifest) -> IntentReference {
        IntentReference(kind: kind, bucket: manifest.bucket, key: manifest.key, version: manifest.versionID)
    }

    func intents(_ node: any StorageNodeClient, olderThan: Int64 = 0) async throws -> IntentPage {
        try await node.indexIntents(ma, from: [], olderThanMillis: olderThan, limit: 100)
    }

    func testIndexIntentsFollowWritesAndDeletions() async throws {
        let node = try await client()
        var first = manifest("k\u{0}x", sequence: 1, size: 3)
        first.envelope = [7, 7]
        _ = try await node.apply(.commit(ma, manifest: first, completing: nil, inlineSegment: nil, intent: true))
        // A copy (a rebalance's, a repair's) is no client write: it leaves no intent.
        _ = try await node.commit(ma, manifest: manifest("copied", sequence: 1, size: 3))
        var page = try await intents(node)
        XCTAssertEqual(page.intents.map(\.reference), [reference(.written, first)])
        XCTAssertEqual(page.intents.first?.entry, first.listingEntry, "the entry carries no key material")
        XCTAssertEqual(page.intents.first?.mark, VersionMark(first))
        XCTAssertEqual(page.gone, [])
        XCTAssertNil(page.next)
        let young = try await intents(node, olderThan: 3_600_000)
        XCTAssertEqual(young.intents, [], "an intent younger than asked waits")

        // An overwrite: the first version's intent is reported gone (delivering it would list a version that is
        // gone), the second's is listed. An older version offered after it leaves none.
        let second = manifest("k\u{0}x", sequence: 2, size: 4)
        _ = try await node.apply(.commit(ma, manifest: second, completing: nil, inlineSegment: nil, intent: true))
        let stale = try await node.apply(.commit(ma, manifest: manifest("k\u{0}x", sequence: 0, size: 1),
                                                 completing: nil, inlineSegment: nil, intent: true))
        XCTAssertEqual(stale, .superseded)
        page = try await intents(node)
        XCTAssertEqual(page.intents.map(\.reference), [reference(.written, second)])
        XCTAssertEqual(page.gone, [reference(.written, first)])

        // A client's permanent deletion replaces the version's written intent by a deleted one, in its commit.
        _ = try await node.deleteVersion(ma, bucket: "bkt", key: second.key, version: second.versionID,
                                         sequence: second.sequence, check: LockCheck(nowMillis: 0, bypassGovernance: false))
        page = try await intents(node)
        XCTAssertEqual(page.intents.map(\.reference), [reference(.deleted, second)])
        XCTAssertEqual(page.intents.first?.mark, VersionMark(second))
        XCTAssertNil(page.intents.first?.entry)

        // Clearing by reference (absent references are no error) empties the node's intents.
        let cleared = try await node.apply(.clearIntents(ma, page.intents.map(\.reference) + page.gone
            + [reference(.written, manifest("never", sequence: 1, size: 1))]))
        XCTAssertEqual(cleared, .committed)
        page = try await intents(node)
        XCTAssertEqual(page, IntentPage(intents: [], next: nil))

        // A relocation (a rebalance dropping a copy) removes the written intent and leaves no deleted one.
        let moved = manifest("moved", sequence: 3, size: 1)
        _ = try await node.apply(.commit(ma, manifest: moved, completing: nil, inlineSegment: nil, intent: true))
        _ = try await node.deleteVersion(ma, bucket: "bkt", key: "moved", version: moved.versionID, sequence: 3,
                                         check: LockCheck(nowMillis: 0, bypassGovernance: false, relocating: true))
        page = try await intents(node)
        XCTAssertEqual(page, IntentPage(intents: [], next: nil))
    }

    func testIndexIntentsArePagedAndJurisdictionChecked() async throws {
        let node = try await client()
        let written = (0..<5).map { manifest("p\($0)", sequence: 1, size: 1) }
        for manifest in written {
            _ = try await node.apply(.commit(ma, manifest: manifest, completing: nil, inlineSegment: nil, intent: true))
        }
        var seen = [IntentReference](), from = [UInt8](), pages = 0
        while true {
            let page = try await node.indexIntents(ma, from: from, olderThanMillis: 0, limit: 2)
            XCTAssertLessThanOrEqual(page.intents.count, 2)
            seen += page.intents.map(\.reference)
            pages += 1
            guard let next = page.next else { break }
            from = next
        }
        XCTAssertEqual(Set(seen), Set(written.map { reference(.written, $0) }))
        XCTAssertEqual(seen.count, 5)
        XCTAssertGreaterThanOrEqual(pages, 3)
        let fr = Jurisdiction("FR")!
        do {
            _ = try await node.indexIntents(fr, from: [], olderThanMillis: 0, limit: 10)
            XCTFail("another jurisdiction's intents were listed")
        } catch {}
        do {
            _ = try await node.apply(.clearIntents(fr, [reference(.written, written[0])]))
            XCTFail("another jurisdiction cleared an intent")
        } catch {}
        do {
            _ = try await node.indexIntents(ma, from: [], olderThanMillis: 0, limit: 0)
            XCTFail("a limit of 0 was taken")
        } catch {}
        let left = try await intents(node)
        XCTAssertEqual(left.intents.count, 5)
    }
}
