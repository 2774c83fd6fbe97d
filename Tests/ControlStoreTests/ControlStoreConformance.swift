import Foundation
import ObjectModel
@testable import ObjectService
import StorageEngine
import XCTest

/// What every ``ControlStore`` must do, run against the embedded store and against a real etcd: conditional writes
/// that let exactly one writer win, consistent snapshots, and a control plane over it that keeps its S3 and key
/// semantics (names global, secrets sealed).
enum ControlStoreConformance {
    static let root = (accessKeyID: "ROOT", secret: "root-secret")

    static func conditionalWrites(_ store: any ControlStore) async throws {
        let absent = try await store.get("t/acme")
        XCTAssertNil(absent)
        guard case .written(let first) = try await store.write("t/acme", Array("one".utf8), ifRevision: 0) else {
            return XCTFail("a create of an absent key failed")
        }
        XCTAssertGreaterThan(first, 0)
        let stored = try await store.get("t/acme")
        XCTAssertEqual(stored, ControlEntry(key: "t/acme", value: Array("one".utf8), revision: first))
        // A second create loses, and is told what is there.
        let secondCreate = try await store.write("t/acme", Array("two".utf8), ifRevision: 0)
        XCTAssertEqual(secondCreate, .conflict(stored))
        // A compare-and-swap at a stale revision loses; at the current one it wins, with a newer revision.
        let staleSwap = try await store.write("t/acme", Array("x".utf8), ifRevision: first + 1000)
        XCTAssertEqual(staleSwap, .conflict(stored))
        guard case .written(let second) = try await store.write("t/acme", Array("three".utf8), ifRevision: first) else {
            return XCTFail("a swap at the current revision failed")
        }
        XCTAssertGreaterThan(second, first)
        let swapped = try await store.get("t/acme")?.value
        XCTAssertEqual(swapped, Array("three".utf8))
        // A conditional write against an absent key with a revision loses, with nothing to show.
        let absentSwap = try await store.write("t/none", [1], ifRevision: 5)
        XCTAssertEqual(absentSwap, .conflict(nil))
        // Unconditional writes and deletes; a deleted key can be created again.
        guard case .written(let third) = try await store.write("t/acme", Array("four".utf8), ifRevision: nil) else {
            return XCTFail("an unconditional write failed")
        }
        XCTAssertGreaterThan(third, second)
        // A conditional delete at a stale revision loses and leaves the record; at the current one it removes it.
        let beforeDelete = try await store.get("t/acme")
        let staleDelete = try await store.delete("t/acme", ifRevision: second)
        XCTAssertEqual(staleDelete, .conflict(beforeDelete))
        guard case .written(let deleted) = try await store.delete("t/acme", ifRevision: third) else {
            return XCTFail("a delete at the current revision failed")
        }
        XCTAssertGreaterThan(deleted, third)
        let afterDelete = try await store.get("t/acme")
        XCTAssertNil(afterDelete)
        let again = try await store.delete("t/acme", ifRevision: nil)
        guard case .written = again else { return XCTFail("deleting an absent key failed") }
        let absentDelete = try await store.delete("t/acme", ifRevision: third)
        XCTAssertEqual(absentDelete, .conflict(nil))
        guard case .written = try await store.write("t/acme", Array("again".utf8), ifRevision: 0) else {
            return XCTFail("a deleted key could not be created again")
        }
    }

    static func snapshots(_ store: any ControlStore) async throws {
        // More than one page of etcd's range (1000), in key order, every entry at or below the snapshot's revision.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in stride(from: worker, to: 1100, by: 8) {
                        _ = try await store.write(String(format: "b/bucket-%05d", index), Array("\(index)".utf8),
                                                  ifRevision: 0)
                    }
                }
            }
            try await group.waitForAll()
        }
        _ = try await store.write("t/other", [1], ifRevision: 0)
        let snapshot = try await store.snapshot(prefix: "b/")
        XCTAssertEqual(snapshot.entries.count, 1100)
        XCTAssertEqual(snapshot.entries.map(\.key), (0..<1100).map { String(format: "b/bucket-%05d", $0) })
        XCTAssertTrue(snapshot.entries.allSatisfy { $0.revision <= snapshot.revision && $0.revision > 0 })
        XCTAssertEqual(snapshot.entries[7].value, Array("7".utf8))
        let everything = try await store.snapshot(prefix: "")
        XCTAssertEqual(everything.entries.count, 1101)
    }

    /// Of many writers creating one key at the same moment, exactly one wins; the others see its value.
    static func oneCreatorWins(_ stores: [any ControlStore]) async throws {
        let outcomes = try await withThrowingTaskGroup(of: ControlWrite.self) { group in
            for (index, store) in stores.enumerated() {
                for attempt in 0..<5 {
                    group.addTask { try await store.write("b/contested", Array("\(index)-\(attempt)".utf8), ifRevision: 0) }
                }
            }
            return try await group.reduce(into: [ControlWrite]()) { $0.append($1) }
        }
        let winners = outcomes.filter { if case .written = $0 { true } else { false } }
        XCTAssertEqual(winners.count, 1, "\(outcomes)")
        let stored = try await stores[0].get("b/contested")
        for outcome in outcomes {
            if case .conflict(let current) = outcome { XCTAssertEqual(current?.value, stored?.value) }
        }
    }

    /// The control plane over the store: tenants, keys and buckets with S3's semantics, secrets sealed in the store,
    /// everything back after a reopen.
    static func controlPlane(_ store: any ControlStore) async throws {
        let secrets = ControlSecrets.ephemeral(), clock = SequenceClock.system()
        var control = try await ControlPlane.open(store: store, jobs: MemoryEngine(), root: root, clock: clock,
                                                  secrets: secrets)
        XCTAssertEqual(control.tenants().map(\.name), ["root"])
        _ = try await control.createTenant("acme")
        await assertFails(.tenantAlreadyExists("acme")) { _ = try await control.createTenant("acme") }
        await assertFails(.noSuchTenant("nobody")) { _ = try await control.createAccessKey(tenant: "nobody") }
        let key = try await control.createAccessKey(tenant: "acme")
        let bucket = try await control.createBucket("records", tenant: "acme", jurisdiction: Jurisdiction("FR")!)
        await assertFails(.bucketAlreadyOwnedByYou("records")) {
            _ = try await control.createBucket("records", tenant: "acme", jurisdiction: Jurisdiction("MA")!)
        }
        await assertFails(.bucketAlreadyExists("records")) {
            _ = try await control.createBucket("records", tenant: "root", jurisdiction: Jurisdiction("MA")!)
        }
        for entry in try await store.snapshot(prefix: "").entries {
            XCTAssertNil(String(decoding: entry.value, as: UTF8.self).range(of: key.secretAccessKey),
                         "\(entry.key) holds a secret access key in the clear")
        }
        control = try await ControlPlane.open(store: store, jobs: MemoryEngine(), root: root, clock: clock, secrets: secrets)
        XCTAssertEqual(control.accessKey(key.accessKeyID), key)
        XCTAssertEqual(control.bucket("records"), bucket)
        XCTAssertEqual(control.accessKey("ROOT")?.isRoot, true)
        XCTAssertEqual(try control.accessKeys(tenant: "acme").map(\.accessKeyID), [key.accessKeyID])
        let revoked = try await control.revokeAccessKey(key.accessKeyID, tenant: "acme")
        XCTAssertEqual(revoked.status, .revoked)
        await assertFails(.noSuchAccessKey(key.accessKeyID)) {
            _ = try await control.revokeAccessKey(key.accessKeyID, tenant: "root")
        }
        // A gateway that knew an older incarnation of a bucket (deleted and made again elsewhere) deletes nothing.
        let elsewhere = try await ControlPlane.open(store: store, jobs: MemoryEngine(), root: root, clock: clock,
                                                    secrets: secrets)
        try await elsewhere.deleteBucketRecord("records")
        _ = try await elsewhere.createBucket("records", tenant: "root", jurisdiction: Jurisdiction("US")!)
        await assertFails(.operationAborted("records")) { try await control.confirmBucket("records") }
        XCTAssertEqual(control.bucket("records")?.tenant, "root", "the conflict taught it the current record")
        try await elsewhere.deleteBucketRecord("records")
        _ = try await elsewhere.createBucket("records", tenant: "acme", jurisdiction: Jurisdiction("MA")!)
        await assertFails(.operationAborted("records")) { try await control.deleteBucketRecord("records") }
        XCTAssertEqual(control.bucket("records")?.jurisdiction, Jurisdiction("MA"))
        try await elsewhere.deleteBucketRecord("records")
        XCTAssertNil(elsewhere.bucket("records"))
        control = try await ControlPlane.open(store: store, jobs: MemoryEngine(), root: root, clock: clock, secrets: secrets)
        XCTAssertEqual(control.accessKey(key.accessKeyID)?.status, .revoked)
        XCTAssertNil(control.bucket("records"))
        // Under another control key the sealed secrets do not open: the control plane refuses to start.
        let opened = try? await ControlPlane.open(store: store, jobs: MemoryEngine(), root: root, clock: clock,
                                                  secrets: .ephemeral())
        XCTAssertNil(opened)
    }

    static func assertFails(_ expected: ObjectServiceError, file: StaticString = #filePath, line: UInt = #line,
                            _ body: () async throws -> Void) async {
        do {
            try await body()
            XCTFail("succeeded; expected \(expected)", file: file, line: line)
        } catch {
            XCTAssertEqual(error as? ObjectServiceError, expected, file: file, line: line)
        }
    }
}
