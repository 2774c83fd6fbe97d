import ObjectModel
import StorageNode
import XCTest

/// Versioned buckets on a node, through the node protocol (in process and over HTTP): what is kept, what replaces
/// what, reads by version, listings in order across pages, and permanent deletions.
extension NodeClientConformanceTests {
    func version(_ key: String, sequence: UInt64, versioned: Bool = true, marker: Bool = false) -> ObjectManifest {
        var manifest = ObjectManifest(bucket: "bkt", key: key, versionID: .random(), sequence: sequence,
                                      isTombstone: marker, sizeBytes: marker ? 0 : 3, etag: "e", lastModifiedMillis: 1)
        manifest.keepsHistory = true
        manifest.hasVersionID = versioned
        manifest.isDeleteMarker = marker
        return manifest
    }

    var unlocked: LockCheck { LockCheck(nowMillis: 0, bypassGovernance: false) }

    func put(_ node: any StorageNodeClient, _ manifest: ObjectManifest) async throws -> CommitOutcome {
        guard !manifest.isTombstone else { return try await node.commit(ma, manifest: manifest) }
        return try await node.commitSmall(ma, manifest: manifest, segment: [UInt8(truncatingIfNeeded: manifest.sequence), 0, 0])
    }

    func all(_ node: any StorageNodeClient, limit: Int, prefix: String = "") async throws -> [ObjectManifest] {
        var position = VersionPosition(key: Array(prefix.utf8))
        var out = [ObjectManifest]()
        while true {
            let batch = try await node.listVersions(ma, bucket: "bkt", prefix: Array(prefix.utf8), from: position,
                                                    limit: limit)
            out += batch.versions
            guard let next = batch.next else { return out }
            position = next
        }
    }

    func testVersionedWritesKeepEveryVersionAndNullVersionsReplaceEachOther() async throws {
        let node = try await client()
        // An object from before versioning (a null version without history), then versions with ids.
        var legacy = manifest("k", sequence: 1, size: 3)
        legacy.etag = "legacy"
        _ = try await node.commitSmall(ma, manifest: legacy, segment: [7, 7, 7])
        let v1 = version("k", sequence: 2), v2 = version("k", sequence: 3)
        for manifest in [v1, v2] {
            let outcome = try await put(node, manifest)
            XCTAssertEqual(outcome, .committed)
        }
        let current = try await node.manifest(ma, bucket: "bkt", key: "k")
        XCTAssertEqual(current?.versionID, v2.versionID)
        let listed = try await all(node, limit: 1000).map(\.versionID)
        XCTAssertEqual(listed, [v2.versionID, v1.versionID, legacy.versionID])
        // The legacy version is still readable as the null version, bytes included.
        let null = try await node.version(ma, bucket: "bkt", key: "k", selector: .null)
        XCTAssertEqual(null?.etag, "legacy")
        let bytes = try await node.segment(ma, version: legacy.versionID, index: 0)
        XCTAssertEqual(Array(bytes.readableBytesView), [7, 7, 7])
        // Suspended: a null version replaces the old null version (its bytes go) and keeps the ones with ids.
        let suspended = version("k", sequence: 4, versioned: false)
        let step1: CommitOutcome = try await put(node, suspended)

        XCTAssertEqual(step1, .committed)
        let afterSuspend = try await all(node, limit: 1000).map(\.versionID)
        XCTAssertEqual(afterSuspend, [suspended.versionID, v2.versionID, v1.versionID])
        do {
            _ = try await node.segment(ma, version: legacy.versionID, index: 0)
            XCTFail("the replaced null version's segment is still there")
        } catch {}
        // A second null version replaces the current null one.
        let again = version("k", sequence: 5, versioned: false)
        let step2: CommitOutcome = try await put(node, again)

        XCTAssertEqual(step2, .committed)
        let final = try await all(node, limit: 1000).map(\.versionID)
        XCTAssertEqual(final, [again.versionID, v2.versionID, v1.versionID])
    }

    func testAnOlderVersionArrivingLateJoinsTheHistoryAndReadsByVersionAreOneLookup() async throws {
        let node = try await client()
        let newer = version("k", sequence: 20), older = version("k", sequence: 10)
        let step3: CommitOutcome = try await put(node, newer)

        XCTAssertEqual(step3, .committed)
        let step4: CommitOutcome = try await put(node, older)

        XCTAssertEqual(step4, .committed)
        // A retried commit of the current version changes nothing.
        let step5: CommitOutcome = try await put(node, newer)

        XCTAssertEqual(step5, .superseded)
        let current = try await node.manifest(ma, bucket: "bkt", key: "k")
        XCTAssertEqual(current?.versionID, newer.versionID)
        for wanted in [newer, older] {
            let found = try await node.version(ma, bucket: "bkt", key: "k",
                                               selector: .id(wanted.versionID, sequence: wanted.sequence))
            XCTAssertEqual(found, wanted)
        }
        // The right id with a wrong sequence, or another key, finds nothing.
        let wrongSequence = try await node.version(ma, bucket: "bkt", key: "k", selector: .id(older.versionID, sequence: 11))
        XCTAssertNil(wrongSequence)
        let otherKey = try await node.version(ma, bucket: "bkt", key: "k2",
                                              selector: .id(older.versionID, sequence: older.sequence))
        XCTAssertNil(otherKey)
    }

    func testDeleteMarkersAndPermanentDeletionsPromoteTheNextVersion() async throws {
        let node = try await client()
        let v1 = version("k", sequence: 1), v2 = version("k", sequence: 2), marker = version("k", sequence: 3, marker: true)
        for manifest in [v1, v2, marker] {
            let outcome = try await put(node, manifest)
            XCTAssertEqual(outcome, .committed)
        }
        let listed = try await all(node, limit: 1000)
        XCTAssertEqual(listed.map(\.versionID), [marker.versionID, v2.versionID, v1.versionID])
        XCTAssertTrue(listed[0].isDeleteMarker)
        // Deleting the marker brings v2 back as current.
        let step6: CommitOutcome = try await node.deleteVersion(ma, bucket: "bkt", key: "k", version: marker.versionID,
                                                    sequence: marker.sequence, check: unlocked)

        XCTAssertEqual(step6, .committed)
        var current = try await node.manifest(ma, bucket: "bkt", key: "k")
        XCTAssertEqual(current?.versionID, v2.versionID)
        // Deleting a noncurrent version removes it and its bytes.
        let step7: CommitOutcome = try await node.deleteVersion(ma, bucket: "bkt", key: "k", version: v1.versionID,
                                                    sequence: v1.sequence, check: unlocked)

        XCTAssertEqual(step7, .committed)
        do {
            _ = try await node.segment(ma, version: v1.versionID, index: 0)
            XCTFail("a deleted version's segment is still there")
        } catch {}
        let step8: CommitOutcome = try await node.deleteVersion(ma, bucket: "bkt", key: "k", version: v1.versionID,
                                                    sequence: v1.sequence, check: unlocked)

        XCTAssertEqual(step8, .superseded)
        // Deleting the last version leaves nothing of the key.
        let step9: CommitOutcome = try await node.deleteVersion(ma, bucket: "bkt", key: "k", version: v2.versionID,
                                                    sequence: v2.sequence, check: unlocked)

        XCTAssertEqual(step9, .committed)
        current = try await node.manifest(ma, bucket: "bkt", key: "k")
        XCTAssertNil(current)
        let remaining = try await all(node, limit: 1000)
        XCTAssertTrue(remaining.isEmpty)
    }

    func testVersionListingsPageInOrderWhateverTheBatchSize() async throws {
        let node = try await client()
        // Keys with NUL bytes and prefixes of each other, several versions each, some current as plain objects.
        let keys = ["a", "a\u{0}", "a\u{0}b", "ab", "b/1", "b/2", "c"]
        var expected = [ObjectManifest]()
        var sequence: UInt64 = 1
        for (index, key) in keys.enumerated() {
            var versions = [ObjectManifest]()
            for _ in 0...(index % 3) {
                let manifest = version(key, sequence: sequence)
                sequence += 1
                let step10: CommitOutcome = try await put(node, manifest)

                XCTAssertEqual(step10, .committed)
                versions.insert(manifest, at: 0)
            }
            expected += versions
        }
        let whole = try await all(node, limit: 1000)
        XCTAssertEqual(whole.map(\.versionID), expected.map(\.versionID))
        for limit in [1, 2, 3, 5] {
            let paged = try await all(node, limit: limit)
            XCTAssertEqual(paged.map(\.versionID), expected.map(\.versionID), "batches of \(limit)")
        }
        let underB = try await all(node, limit: 2, prefix: "b/")
        XCTAssertEqual(underB.map(\.key), expected.filter { $0.key.hasPrefix("b/") }.map(\.key))
        let underA = try await all(node, limit: 2, prefix: "a\u{0}")
        XCTAssertEqual(Set(underA.map(\.key)), ["a\u{0}", "a\u{0}b"])
    }

    func testObjectLockIsSetOnTheVersionNamedOnly() async throws {
        let node = try await client()
        let v1 = version("k", sequence: 1), v2 = version("k", sequence: 2)
        for manifest in [v1, v2] { _ = try await put(node, manifest) }
        let lock = ObjectLock(mode: .compliance, retainUntilMillis: 5_000, legalHold: true)
        let replaced = try await node.replaceLock(ma, bucket: "bkt", key: "k", version: v1.versionID, sequence: 1,
                                                  expected: ObjectLock(), lock: lock)
        XCTAssertTrue(replaced)
        // The node's compare: a change that expected another lock does nothing.
        let crossed = try await node.replaceLock(ma, bucket: "bkt", key: "k", version: v1.versionID, sequence: 1,
                                                 expected: ObjectLock(), lock: ObjectLock())
        XCTAssertFalse(crossed)
        let locked = try await node.version(ma, bucket: "bkt", key: "k", selector: .id(v1.versionID, sequence: 1))
        XCTAssertEqual(locked?.lock, lock)
        let current = try await node.manifest(ma, bucket: "bkt", key: "k")
        XCTAssertEqual(current?.lock, ObjectLock())
        let absent = try await node.replaceLock(ma, bucket: "bkt", key: "k", version: .random(), sequence: 1,
                                                expected: ObjectLock(), lock: lock)
        XCTAssertFalse(absent)
    }

    func testTheNodeNeverDropsALockedVersion() async throws {
        let node = try await client()
        // A null version from before versioning, then locked (as PutObjectLegalHold does).
        let legacy = manifest("k", sequence: 1, size: 3)
        _ = try await node.commitSmall(ma, manifest: legacy, segment: [1, 2, 3])
        let hold = ObjectLock(legalHold: true)
        let locked = try await node.replaceLock(ma, bucket: "bkt", key: "k", version: legacy.versionID, sequence: 1,
                                                expected: ObjectLock(), lock: hold)
        XCTAssertTrue(locked)
        // A gateway that never heard of versioning overwrites and deletes the key: the locked version stays.
        _ = try await node.commitSmall(ma, manifest: manifest("k", sequence: 2, size: 3), segment: [4, 5, 6])
        var tombstone = manifest("k", sequence: 3, size: 0)
        tombstone.isTombstone = true
        _ = try await node.commit(ma, manifest: tombstone)
        let kept = try await node.version(ma, bucket: "bkt", key: "k", selector: .null)
        XCTAssertEqual(kept?.versionID, legacy.versionID)
        let bytes = try await node.segment(ma, version: legacy.versionID, index: 0)
        XCTAssertEqual(Array(bytes.readableBytesView), [1, 2, 3])
        // Deleting it by id is refused while the hold lasts, whatever the gateway allowed.
        do {
            _ = try await node.deleteVersion(ma, bucket: "bkt", key: "k", version: legacy.versionID, sequence: 1,
                                             check: LockCheck(nowMillis: 0, bypassGovernance: true))
            XCTFail("a version under legal hold was deleted")
        } catch let error as NodeError {
            guard case .objectLocked = error else { return XCTFail("\(error)") }
        }
        do {
            try await node.purge(ma, bucket: "bkt")
            XCTFail("a bucket holding a locked version was purged")
        } catch let error as NodeError {
            guard case .objectLocked = error else { return XCTFail("\(error)") }
        }
        // A GOVERNANCE retention yields to an allowed bypass, a COMPLIANCE one to nothing but time.
        let released = try await node.replaceLock(ma, bucket: "bkt", key: "k", version: legacy.versionID, sequence: 1,
                                                  expected: hold,
                                                  lock: ObjectLock(mode: .compliance, retainUntilMillis: 100))
        XCTAssertTrue(released)
        do {
            _ = try await node.deleteVersion(ma, bucket: "bkt", key: "k", version: legacy.versionID, sequence: 1,
                                             check: LockCheck(nowMillis: 99, bypassGovernance: true))
            XCTFail("a COMPLIANCE version was deleted before its date")
        } catch let error as NodeError {
            guard case .objectLocked = error else { return XCTFail("\(error)") }
        }
        let deleted = try await node.deleteVersion(ma, bucket: "bkt", key: "k", version: legacy.versionID, sequence: 1,
                                                   check: LockCheck(nowMillis: 100, bypassGovernance: false))
        XCTAssertEqual(deleted, .committed)
    }
}
