import ObjectModel
import StorageNode
import XCTest

/// Index intents on a node, for every implementation of the node protocol: written in the same commit as a client's
/// write or deletion, listed in commit order once old enough (a written one only while the node holds its version),
/// cleared by range with the undelivered ones recorded again.
extension NodeClientConformanceTests {
    /// The node's intents. A read stamps later intents past its cutoff (with age 0, this millisecond), so an intent
    /// committed in the millisecond of an earlier read is seen a moment on: the read waits that moment.
    func intents(_ node: any StorageNodeClient, olderThan: Int64 = 0, limit: Int = 100) async throws -> IntentPage {
        try await Task.sleep(for: .milliseconds(3))
        return try await node.indexIntents(ma, from: [], olderThanMillis: olderThan, limit: limit)
    }

    func describe(_ page: IntentPage) -> [String] {
        page.intents.map { "\($0.kind == .written ? "w" : "d") \($0.key) \($0.mark.sequence)" }
    }

    func testIndexIntentsFollowWritesAndDeletions() async throws {
        let node = try await client()
        var first = manifest("k\u{0}x", sequence: 1, size: 3)
        first.envelope = [7, 7]
        _ = try await node.apply(.commit(ma, manifest: first, completing: nil, inlineSegment: nil, intent: true))
        // A copy (a rebalance's, a repair's) is no client write: it leaves no intent.
        _ = try await node.commit(ma, manifest: manifest("copied", sequence: 1, size: 3))
        var page = try await intents(node)
        XCTAssertEqual(describe(page), ["w k\u{0}x 1"])
        XCTAssertEqual(page.intents.first?.entry, first.listingEntry, "the entry carries no key material")
        XCTAssertEqual(page.intents.first?.mark, VersionMark(first))
        XCTAssertFalse(page.more)
        let young = try await intents(node, olderThan: 3_600_000)
        XCTAssertEqual(young, IntentPage(intents: [], end: nil, more: false), "an intent younger than asked waits")

        // An overwrite: the first version is no longer held, so its intent is left out (delivering it would list a
        // version that is gone); the second's is listed. An older version offered after it leaves none.
        let second = manifest("k\u{0}x", sequence: 2, size: 4)
        _ = try await node.apply(.commit(ma, manifest: second, completing: nil, inlineSegment: nil, intent: true))
        let stale = try await node.apply(.commit(ma, manifest: manifest("k\u{0}x", sequence: 0, size: 1),
                                                 completing: nil, inlineSegment: nil, intent: true))
        XCTAssertEqual(stale, .superseded)
        page = try await intents(node)
        XCTAssertEqual(describe(page), ["w k\u{0}x 2"])

        // A client's permanent deletion records a deleted intent in its commit (and the written one is left out).
        _ = try await node.deleteVersion(ma, bucket: "bkt", key: second.key, version: second.versionID,
                                         sequence: second.sequence, check: LockCheck(nowMillis: 0, bypassGovernance: false))
        // A relocation (a rebalance dropping a copy) records none.
        let moved = manifest("moved", sequence: 3, size: 1)
        _ = try await node.apply(.commit(ma, manifest: moved, completing: nil, inlineSegment: nil, intent: true))
        _ = try await node.deleteVersion(ma, bucket: "bkt", key: "moved", version: moved.versionID, sequence: 3,
                                         check: LockCheck(nowMillis: 0, bypassGovernance: false, relocating: true))
        page = try await intents(node)
        XCTAssertEqual(describe(page), ["d k\u{0}x 2"])
        XCTAssertNil(page.intents.first?.entry)

        // Clearing the page but the intent the drain could not deliver: it stays where it was, the rest goes.
        let kept = try XCTUnwrap(page.intents.first)
        let cleared = try await node.apply(.clearIntents(ma, from: [], through: try XCTUnwrap(page.end),
                                                         keeping: [kept.position]))
        XCTAssertEqual(cleared, .committed)
        page = try await intents(node)
        XCTAssertEqual(page.intents, [kept], "kept in place, under its time")
        // An intent committed after a read of the queue lies past that read's end: clearing that page spares it.
        let later = manifest("later", sequence: 4, size: 1)
        _ = try await node.apply(.commit(ma, manifest: later, completing: nil, inlineSegment: nil, intent: true))
        _ = try await node.apply(.clearIntents(ma, from: [], through: try XCTUnwrap(page.end), keeping: []))
        page = try await intents(node)
        XCTAssertEqual(describe(page), ["w later 4"])
        _ = try await node.apply(.clearIntents(ma, from: [], through: try XCTUnwrap(page.end), keeping: []))
        page = try await intents(node)
        XCTAssertEqual(page, IntentPage(intents: [], end: nil, more: false))
    }

    func testIndexIntentsArePagedAndJurisdictionChecked() async throws {
        let node = try await client()
        let written = (0..<5).map { manifest("p\($0)", sequence: 1, size: 1) }
        for manifest in written {
            _ = try await node.apply(.commit(ma, manifest: manifest, completing: nil, inlineSegment: nil, intent: true))
        }
        var seen = [String](), from = [UInt8](), pages = 0
        try await Task.sleep(for: .milliseconds(3))
        while true {
            let page = try await node.indexIntents(ma, from: from, olderThanMillis: 0, limit: 2)
            XCTAssertLessThanOrEqual(page.intents.count, 2)
            seen += page.intents.map(\.key)
            pages += 1
            guard page.more, let end = page.end else { break }
            from = end
        }
        XCTAssertEqual(Set(seen), Set(written.map(\.key)))
        XCTAssertEqual(seen.count, written.count, "each once")
        XCTAssertEqual(pages, 3)
        let fr = Jurisdiction("FR")!
        do {
            _ = try await node.indexIntents(fr, from: [], olderThanMillis: 0, limit: 10)
            XCTFail("another jurisdiction's intents were listed")
        } catch {}
        let full = try await intents(node)
        let end = try XCTUnwrap(full.end)
        do {
            _ = try await node.apply(.clearIntents(fr, from: [], through: end, keeping: []))
            XCTFail("another jurisdiction cleared intents")
        } catch {}
        for (from, through, keeping) in [([], end + [UInt8](repeating: 0xFF, count: 40), []), (end, [], []),
                                         ([], end, [[UInt8](repeating: 0, count: 27)])] as [([UInt8], [UInt8], [[UInt8]])] {
            do {
                _ = try await node.apply(.clearIntents(ma, from: from, through: through, keeping: keeping))
                XCTFail("a clear reaching past intents' positions, or ending before it starts, was taken")
            } catch {}
        }
        do {
            _ = try await node.indexIntents(ma, from: [], olderThanMillis: -1, limit: 10)
            XCTFail("an age below 0 was taken")
        } catch {}
        do {
            _ = try await node.indexIntents(ma, from: [], olderThanMillis: 0, limit: 0)
            XCTFail("a limit of 0 was taken")
        } catch {}
        let left = try await intents(node)
        XCTAssertEqual(left.intents.count, 5, "nothing refused changed anything")
    }
}
