import AsyncHTTPClient
@testable import EtcdControl
import Foundation
import Logging
import ObjectModel
@testable import ObjectService
import StorageEngine
import XCTest

/// The conformance suite against the embedded store (RocksDB, as `qantara serve` keeps it).
final class EmbeddedControlStoreTests: XCTestCase {
    var directory = ""
    var engines = [RocksDBEngine]()

    override func setUp() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qantara-control-\(UUID())").path
    }

    override func tearDown() {
        for engine in engines { engine.close() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    func makeStore() throws -> EmbeddedControlStore {
        let engine = try RocksDBEngine(path: directory)
        engines.append(engine)
        return EmbeddedControlStore(engine: engine)
    }

    func testConditionalWrites() async throws { try await ControlStoreConformance.conditionalWrites(try makeStore()) }
    func testSnapshots() async throws { try await ControlStoreConformance.snapshots(try makeStore()) }
    func testOneCreatorWins() async throws { try await ControlStoreConformance.oneCreatorWins([try makeStore()]) }
    func testControlPlane() async throws { try await ControlStoreConformance.controlPlane(try makeStore()) }
    func testTopology() async throws { try await ControlStoreConformance.topology(try makeStore()) }

    /// The embedded store has no other writer: nothing to watch.
    func testNoWatch() throws { XCTAssertNil(try makeStore().changes(after: 0)) }
}

/// The same suite against a real etcd started by the test, each test in its own namespace; then what only a shared
/// store has: other gateways' changes seen within a second, an outage survived, a compacted history reloaded.
final class EtcdControlStoreTests: XCTestCase {
    nonisolated(unsafe) static var etcd: EtcdProcess?
    var http: HTTPClient!
    var namespace = ""

    override class func tearDown() {
        etcd?.remove()
        etcd = nil
    }

    override func setUp() async throws {
        if Self.etcd == nil {
            let etcd = try EtcdProcess()
            try await etcd.start()
            Self.etcd = etcd
        }
        namespace = "test-\(UUID())"
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(1))))
    }

    override func tearDown() async throws { try await http.shutdown() }

    func makeStore(_ etcd: EtcdProcess? = nil) throws -> EtcdControlStore {
        try EtcdControlStore(url: "etcd://\((etcd ?? Self.etcd!).endpoint)/\(namespace)", http: http,
                             timeout: .seconds(2))
    }

    func testConditionalWrites() async throws { try await ControlStoreConformance.conditionalWrites(try makeStore()) }
    func testSnapshots() async throws { try await ControlStoreConformance.snapshots(try makeStore()) }
    func testOneCreatorWins() async throws {
        try await ControlStoreConformance.oneCreatorWins([try makeStore(), try makeStore(), try makeStore()])
    }
    func testControlPlane() async throws { try await ControlStoreConformance.controlPlane(try makeStore()) }
    func testTopology() async throws { try await ControlStoreConformance.topology(try makeStore()) }

    func testAddresses() throws {
        let store = try EtcdControlStore(url: "etcd://10.0.0.1:2379,10.0.0.2:2379", http: http)
        XCTAssertEqual(store.endpoints, ["10.0.0.1:2379", "10.0.0.2:2379"])
        XCTAssertEqual(store.namespace, "qantara/")
        XCTAssertEqual(try EtcdControlStore(url: "etcd://h:1/prod/", http: http).namespace, "prod/")
        for bad in ["http://h:1", "etcd://", "etcd://host", "etcd://user@h:1", "etcd://h:1/a/b"] {
            XCTAssertThrowsError(try EtcdControlStore(url: bad, http: http), bad)
        }
    }

    /// The namespace is a boundary: another namespace's records are neither listed nor watched.
    func testNamespacesAreApart() async throws {
        let mine = try makeStore()
        namespace += "-other"
        let other = try makeStore()
        _ = try await other.write("b/theirs", [1], ifRevision: 0)
        let listed = try await mine.snapshot(prefix: "").entries.count
        XCTAssertEqual(listed, 0)
        let theirs = try await mine.get("b/theirs")
        XCTAssertNil(theirs)
    }

    /// Two gateways' control planes over one etcd.
    func openPair(_ store: (any ControlStore)? = nil) async throws -> (ControlPlane, ControlPlane) {
        let secrets = ControlSecrets.ephemeral(), clock = SequenceClock.system()
        let first = try await ControlPlane.open(store: try store ?? makeStore(), jobs: MemoryEngine(),
                                                root: ControlStoreConformance.root, clock: clock, secrets: secrets)
        let second = try await ControlPlane.open(store: try store ?? makeStore(), jobs: MemoryEngine(),
                                                 root: ControlStoreConformance.root, clock: clock, secrets: secrets)
        return (first, second)
    }

    func eventually(within seconds: Double = 1, _ what: String, line: UInt = #line, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { return XCTFail("not within \(seconds) s: \(what)", line: line) }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func watching(_ control: ControlPlane) -> Task<Void, Never> {
        let watcher = ControlWatcher(control: control, logger: Logger(label: "test"))
        return Task { await watcher.follow() }
    }

    /// A bucket created, a key revoked, a bucket deleted through one gateway: seen by the other within a second.
    func testChangesReachOtherGatewaysWithinASecond() async throws {
        let (ma, fr) = try await openPair()
        let watch = watching(fr)
        defer { watch.cancel() }
        _ = try await ma.createTenant("acme")
        try await eventually("the tenant") { fr.tenants().contains { $0.name == "acme" } }
        let key = try await ma.createAccessKey(tenant: "acme")
        try await eventually("the new access key, its secret opened") { fr.accessKey(key.accessKeyID) == key }
        _ = try await ma.createBucket("shared", tenant: "acme", jurisdiction: Jurisdiction("MA")!)
        try await eventually("the bucket") { fr.bucket("shared")?.jurisdiction == Jurisdiction("MA") }
        _ = try await ma.revokeAccessKey(key.accessKeyID, tenant: "acme")
        try await eventually("the revocation") { fr.accessKey(key.accessKeyID)?.status == .revoked }
        try await ma.deleteBucketRecord("shared")
        try await eventually("the deletion") { fr.bucket("shared") == nil }
        // A record that does not open (here: a secret sealed under another control key) fails closed: the key it
        // replaces is dropped from the cache, not kept as it was.
        let other = try await ma.createAccessKey(tenant: "acme")
        try await eventually("the second key") { fr.accessKey(other.accessKeyID) != nil }
        let forged = #"{"accessKeyID":"\#(other.accessKeyID)","createdMillis":1,"formatVersion":2,"#
            + #""sealedSecret":"AAAA","status":"active","tenant":"acme"}"#
        _ = try await ma.store.write("k/\(other.accessKeyID)", Array(forged.utf8), ifRevision: nil)
        try await eventually("the unreadable key dropped") { fr.accessKey(other.accessKeyID) == nil }
        // Two gateways creating one name at the same moment: one wins, the other is told it exists.
        _ = try await ma.createTenant("other")
        async let fromMA: BucketRecord? = try? ma.createBucket("race", tenant: "acme", jurisdiction: Jurisdiction("MA")!)
        async let fromFR: BucketRecord? = try? fr.createBucket("race", tenant: "other", jurisdiction: Jurisdiction("FR")!)
        let outcomes = await [fromMA, fromFR]
        XCTAssertEqual(outcomes.compactMap { $0 }.count, 1, "\(outcomes)")
    }

    /// An etcd of the test's own (to stop, restart or restore), two gateways' control planes on it (FR's watching),
    /// and a tenant's access key FR has seen.
    struct OwnEtcd {
        let etcd: EtcdProcess
        let ma: ControlPlane
        let fr: ControlPlane
        let watch: Task<Void, Never>
        let key: AccessKeyRecord

        func remove() {
            watch.cancel()
            etcd.remove()
        }
    }

    func ownEtcd() async throws -> OwnEtcd {
        let etcd = try EtcdProcess()
        try await etcd.start()
        let (ma, fr) = try await openPair(try makeStore(etcd))
        let watch = watching(fr)
        _ = try await ma.createTenant("acme")
        let key = try await ma.createAccessKey(tenant: "acme")
        try await eventually("the key") { fr.accessKey(key.accessKeyID) != nil }
        return OwnEtcd(etcd: etcd, ma: ma, fr: fr, watch: watch, key: key)
    }

    /// With etcd down, the cache keeps serving (keys, buckets) and changes answer 503; once it is back the watch
    /// resumes and changes flow again.
    func testOutage() async throws {
        let own = try await ownEtcd()
        defer { own.remove() }
        let (etcd, ma, fr, key) = (own.etcd, own.ma, own.fr, own.key)
        _ = try await ma.createBucket("kept", tenant: "acme", jurisdiction: Jurisdiction("FR")!)
        try await eventually("the bucket") { fr.bucket("kept") != nil }
        etcd.stop()
        XCTAssertEqual(fr.accessKey(key.accessKeyID), key)
        XCTAssertEqual(fr.bucket("kept")?.tenant, "acme")
        do {
            _ = try await fr.createBucket("refused", tenant: "acme", jurisdiction: Jurisdiction("FR")!)
            XCTFail("a bucket was created with etcd down")
        } catch ObjectServiceError.serviceUnavailable(let message) {
            XCTAssertTrue(message.contains("unreachable"), message)
        }
        XCTAssertNil(fr.bucket("refused"))
        try await etcd.start()
        _ = try await ma.createBucket("after", tenant: "acme", jurisdiction: Jurisdiction("MA")!)
        try await eventually(within: 3, "a change after the outage") { fr.bucket("after") != nil }
    }

    /// etcd restored from a backup goes back to an earlier revision: a gateway notices, reloads the store as it is
    /// (forgetting revisions of the history that was lost), and the changes made after the restore reach it.
    func testARestoredStoreIsReloaded() async throws {
        let own = try await ownEtcd()
        defer { own.remove() }
        let (etcd, ma, fr, key) = (own.etcd, own.ma, own.fr, own.key)
        try etcd.saveSnapshot()
        for index in 0..<5 {
            _ = try await ma.createBucket("after-backup-\(index)", tenant: "acme", jurisdiction: Jurisdiction("MA")!)
        }
        _ = try await ma.revokeAccessKey(key.accessKeyID, tenant: "acme")
        try await eventually("the revocation") { fr.accessKey(key.accessKeyID)?.status == .revoked }
        etcd.stop()
        try etcd.restoreSnapshot()
        try await etcd.start()
        try await eventually(within: 5, "the restored state") {
            fr.bucket("after-backup-0") == nil && fr.accessKey(key.accessKeyID)?.status == .active
        }
        _ = try await ma.revokeAccessKey(key.accessKeyID, tenant: "acme")
        try await eventually(within: 3, "the revocation after the restore") {
            fr.accessKey(key.accessKeyID)?.status == .revoked
        }
    }

    /// A gateway whose watch resumes after the history it needs was compacted reloads the whole control plane.
    /// A record that does not load (here one a newer version might write) neither stops a reload nor a start.
    func testCompactedHistoryReloads() async throws {
        let (ma, fr) = try await openPair()
        _ = try await ma.createTenant("acme")
        let key = try await ma.createAccessKey(tenant: "acme")
        let first = watching(fr)
        try await eventually("the key") { fr.accessKey(key.accessKeyID) != nil }
        first.cancel()
        await first.value
        _ = try await ma.createBucket("one", tenant: "acme", jurisdiction: Jurisdiction("MA")!)
        try await ma.deleteBucketRecord("one")
        _ = try await ma.createBucket("two", tenant: "acme", jurisdiction: Jurisdiction("MA")!)
        _ = try await ma.store.write("k/QKJUNK", Array("{}".utf8), ifRevision: nil)
        _ = try await ma.revokeAccessKey(key.accessKeyID, tenant: "acme")
        try await ma.store.compact()
        XCTAssertNil(fr.bucket("two"))
        XCTAssertEqual(fr.accessKey(key.accessKeyID)?.status, .active)
        let watch = watching(fr)
        defer { watch.cancel() }
        try await eventually(within: 3, "the reload") {
            fr.bucket("two") != nil && fr.tenants().count == 2 && fr.accessKey(key.accessKeyID)?.status == .revoked
        }
        let restarted = try await ControlPlane.open(store: fr.store, jobs: MemoryEngine(), root: ControlStoreConformance.root,
                                                    clock: SequenceClock.system(), secrets: fr.secrets)
        XCTAssertEqual(restarted.accessKey(key.accessKeyID)?.status, .revoked)
        XCTAssertNil(restarted.accessKey("QKJUNK"))
    }
}
