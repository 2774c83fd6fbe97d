import Envelope
import Foundation
import Hashing
import KeyStore
import Logging
import NIOPosix
import ObjectModel
@testable import ObjectService
import Placement
import SigV4
import StorageEngine
import StorageNode
import Synchronization
import XCTest

/// Three jurisdictions of three RocksDB nodes each, in a temporary directory.
final class Harness {
    let directory: URL
    let pool: NIOThreadPool
    let nodes: [LocalStorageNode]
    let topology: Topology
    let service: ObjectService
    let audit: AuditTrail
    var store: ObjectStore { service.store }
    let clock = SequenceClock.system()
    let keyStores: [Jurisdiction: KeyStore]
    /// Each jurisdiction's first two administrators (their key ceremony).
    let administrators: [Jurisdiction: [AdministratorCredentials]]
    /// The tenant owning the harness's buckets.
    var tenant = "acme"
    /// Nodes placement changes added (``ObjectService/changeTopology(_:_:)``), opened in the harness's directory.
    let added = AddedNodes()

    /// `wrap` puts each node's client behind another (a fault injector), for the service; ``nodes`` stay the nodes.
    init(wrap: (@Sendable (LocalStorageNode) -> any StorageNodeClient)? = nil) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qantara-service-\(UUID())")
        pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        var entries = [Topology.JurisdictionEntry]()
        var nodes = [LocalStorageNode]()
        for code in ["MA", "FR", "US"] {
            let jurisdiction = Jurisdiction(code)!
            var ids = [Topology.NodeEntry]()
            for index in 1...3 {
                let id = NodeID("\(code.lowercased())-\(index)")!
                let path = directory.appendingPathComponent(id.rawValue).path
                let clock = self.clock
                nodes.append(try LocalStorageNode(node: id, jurisdiction: jurisdiction, threadPool: pool,
                                                  clock: { clock.nowMillis() },
                                                  openEngine: { try RocksDBEngine(path: path) }))
                ids.append(.init(id: id))
            }
            entries.append(.init(code: jurisdiction, nodes: ids))
        }
        self.nodes = nodes
        let file = Topology(jurisdictions: entries, defaultJurisdiction: Jurisdiction("MA")!)
        let logger = Logger(label: "test")
        var keyStores = [Jurisdiction: KeyStore]()
        for entry in entries {
            let keyStore = KeyStore(jurisdiction: entry.code, path: directory.path + "/keystore-\(entry.code)",
                                    cost: .minimum, now: { 0 })
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try keyStore.unseal(secret: Array("harness".utf8))
            keyStores[entry.code] = keyStore
        }
        self.keyStores = keyStores
        administrators = try keyStores.mapValues { try $0.bootstrapAdministrators(count: 2) }
        audit = AuditTrail(directory: directory.path + "/audit", clock: clock, threadPool: pool, logger: logger)
        // Every gateway jurisdiction reaches every (in-process) key store.
        let clients = keyStores.keys.flatMap { gateway in
            keyStores.values.map { (gateway: gateway, client: $0 as any KeyStoreClient) }
        }
        let crypto = ObjectCrypto(settings: .init(algorithms: [Jurisdiction("FR")!: .xchacha20poly1305]),
                                  clients: clients, audit: audit, requester: "gateway-test", now: { 0 })
        let control = try await ControlPlane.open(engine: MemoryEngine(), root: ("ROOT", "secret"), clock: clock,
                                       secrets: .ephemeral())
        // As a gateway starts: with the topology the control plane holds (the first one published has its listing
        // indexes complete).
        let topology = try await ControlTopology.resolve(file: file, origin: "harness", store: control.store,
                                                         logger: logger).topology
        self.topology = topology
        let (directory, pool, clock, added) = (directory, pool, clock, self.added)
        let nodeClients = nodes.map { wrap?($0) ?? $0 }
        service = ObjectService(control: control, topology: topology, nodes: nodeClients, crypto: crypto, audit: audit,
                                clock: clock, logger: logger, nodeOpener: { code, entry in
            let path = directory.appendingPathComponent(entry.id.rawValue).path
            let node = try LocalStorageNode(node: entry.id, jurisdiction: code, threadPool: pool,
                                            clock: { clock.nowMillis() }, openEngine: { try RocksDBEngine(path: path) })
            added.nodes.withLock { $0.append(node) }
            return wrap?(node) ?? node
        })
    }

    /// A caller of `tenant` (the harness's by default) through the gateway of `gateway`.
    func principal(_ gateway: String = "MA", tenant: String? = nil, root: Bool = false) -> Principal {
        Principal(tenant: tenant ?? self.tenant, accessKeyID: "QKTEST", isRoot: root, gateway: Jurisdiction(gateway)!,
                  requestID: "test")
    }

    /// Runs `action` as J's authority: signed by J's administrator `admin` as the CLI signs it, received by the
    /// gateway of `gateway` (J's by default).
    func administer(_ action: AuthorityAction, _ jurisdiction: String = "MA", admin: Int = 0, gateway: String? = nil)
        async throws -> ObjectService.AuthorityAnswer
    {
        let code = Jurisdiction(jurisdiction)!
        let body = Array(try JSONEncoder().encode(AuthorityRequest(jurisdiction: code, action: action)))
        let credentials = administrators[code]![admin]
        var request = SignableRequest(method: "POST", rawPath: AdministratorProof.path, rawQuery: "",
                                      headers: [(name: "host", value: "gateway")])
        let signer = SigV4Signer(accessKeyID: credentials.accessKeyId, secret: credentials.secretAccessKey)
        // The harness's key stores keep a clock standing at 0: calls are signed at that time.
        for (name, value) in signer.sign(request, payloadHash: Hex.encode(StreamingDigest.hash(.sha256, body)),
                                         nowSeconds: 0) {
            request.headers.append((name: name, value: value))
        }
        return try await service.administer(request, body: body, gateway: Jurisdiction(gateway ?? jurisdiction)!,
                                            requestID: "test")
    }

    /// The records of `kind` in J's audit log, as name-value pairs.
    func auditRecords(_ jurisdiction: String, kind: String) throws -> [[String: String]] {
        try audit.log(Jurisdiction(jurisdiction)!).entries().filter { $0.kind == kind }.map(\.fields)
    }

    func node(_ id: String) -> LocalStorageNode {
        (nodes + added.nodes.withLock { $0 }).first { $0.nodeID.rawValue == id }!
    }

    /// Stores `bytes` under `key`, fed in pieces of `piece` bytes.
    @discardableResult
    func put(_ jurisdiction: String, _ bucket: String, _ key: String, _ bytes: [UInt8], piece: Int = 65536,
             expectations: PayloadExpectations? = nil) async throws -> ObjectManifest {
        guard case .object(let manifest) = try await write(
            writer: try await store.writer(Jurisdiction(jurisdiction)!, tenant: tenant, bucket: bucket, key: key,
                                           metadata: ObjectMetadata(),
                                     expectations: expectations ?? PayloadExpectations(sizeBytes: Int64(bytes.count))),
            bytes, piece: piece) else { fatalError("not an object") }
        return manifest
    }

    /// Feeds `bytes` to `writer` in pieces and finishes it (aborting on failure).
    func write(writer: ObjectWriter, _ bytes: [UInt8], piece: Int = 65536) async throws -> WriteResult {
        do {
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + piece)
                try bytes[offset..<end].withUnsafeBytes { try writer.append($0) }
                try await writer.flush()
                offset = end
            }
            return try await writer.commit()
        } catch {
            await writer.abort()
            throw error
        }
    }

    /// The whole object, or nil.
    func get(_ jurisdiction: String, _ bucket: String, _ key: String) async throws -> [UInt8]? {
        let code = Jurisdiction(jurisdiction)!
        guard let found = try await store.locate(code, bucket: bucket, key: key) else { return nil }
        let located = try await store.opened(found, jurisdiction: code, tenant: tenant, operation: "test")
        var out = [UInt8]()
        guard located.manifest.sizeBytes > 0 else { return out }
        try await store.read(located, jurisdiction: code, range: 0...(located.manifest.sizeBytes - 1)) {
            out += $0.readableBytesView
        }
        return out
    }

    func close() async throws {
        for node in nodes + added.nodes.withLock({ $0 }) { node.close() }
        try await pool.shutdownGracefully()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Nodes a test's placement changes opened.
final class AddedNodes: Sendable {
    let nodes = Mutex([LocalStorageNode]())
}

func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

extension RebalancePace {
    /// A pace for tests: no throttle, tombstones kept a day, the latest writes compared at once.
    static let immediate = RebalancePace(bytesPerSecond: 1 << 40, tombstoneGraceMillis: 86_400_000,
                                         summarySettleMillis: 0)
}

/// Two versions of a key, the newer deleted for good.
struct DeletedForGood {
    let kept: ObjectManifest
    let deleted: ObjectManifest
}

extension Harness {
    /// Writes two versions of `key` in `bucket` (its versioning enabled here) and deletes the newer for good while
    /// the index replica `missing` refuses index edits (through `faults`): the deletion must answer 503, since that
    /// replica still lists the deleted version, newer than what is current now. Its edits are refused afterwards too.
    func deletionAnIndexReplicaMisses(_ faults: Faults, missing: NodeID, bucket: String, key: String) async throws
        -> DeletedForGood
    {
        let caller = principal("MA")
        try await service.setBucketVersioning(caller, bucket, .enabled)
        let first = try await put("MA", bucket, key, [1, 2, 3])
        let second = try await put("MA", bucket, key, [1, 2, 3, 4, 5])
        faults.refusingIndexEdits = [missing]
        do {
            _ = try await service.deleteObjectVersion(caller, bucket, key, versionID: VersionName.name(second))
            XCTFail("a permanent deletion an index replica missed was acknowledged")
        } catch ObjectServiceError.serviceUnavailable {}
        return DeletedForGood(kept: first, deleted: second)
    }
}
