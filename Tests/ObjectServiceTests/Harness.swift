import Envelope
import Foundation
import Hashing
import KeyStore
import Logging
import NIOPosix
import ObjectModel
import ObjectService
import Placement
import StorageEngine
import StorageNode

/// Three jurisdictions of three RocksDB nodes each, in a temporary directory.
final class Harness {
    let directory: URL
    let pool: NIOThreadPool
    let nodes: [LocalStorageNode]
    let topology: Topology
    let store: ObjectStore
    let service: ObjectService
    let clock = SequenceClock.system()
    let keyStores: [Jurisdiction: KeyStore]
    /// The tenant owning the harness's buckets.
    var tenant = "acme"

    init() throws {
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
        topology = Topology(jurisdictions: entries, defaultJurisdiction: Jurisdiction("MA")!)
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
        let crypto = ObjectCrypto(settings: .init(algorithms: [Jurisdiction("FR")!: .xchacha20poly1305]),
                                  keyStores: Array(keyStores.values), requester: "gateway-test", now: { 0 })
        store = ObjectStore(topology: topology, nodes: nodes, clock: clock, crypto: crypto, logger: logger)
        let control = try ControlPlane(engine: MemoryEngine(), root: ("ROOT", "secret"), clock: clock)
        service = ObjectService(control: control, store: store, clock: clock, logger: logger)
    }

    func node(_ id: String) -> LocalStorageNode { nodes.first { $0.nodeID.rawValue == id }! }

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
            return try await writer.finish()
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
        for node in nodes { node.close() }
        try await pool.shutdownGracefully()
        try? FileManager.default.removeItem(at: directory)
    }
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
