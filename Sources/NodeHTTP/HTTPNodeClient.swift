import AsyncHTTPClient
import Foundation
import Hashing
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ObjectModel
import StorageNode
import Synchronization

/// A storage node in another process, reached over HTTP. Implements the same ``StorageNodeClient`` protocol as the
/// in-process node and passes the same suite. A failed connection marks the node down (placement then skips it)
/// until ``ping()`` succeeds again.
public final class HTTPNodeClient: StorageNodeClient {
    public let nodeID: NodeID
    public let jurisdiction: Jurisdiction
    private let baseURL: String
    private let http: HTTPClient
    /// The client of segment streams, each of which holds a connection while its object passes.
    let streams: HTTPClient
    private let token: String?
    private let up = Atomic<Bool>(true)
    let timeout: TimeAmount

    /// A client of the node at `address` (`host:port`), sharing `http` with the other node clients; segment streams
    /// go through `streams` (by default `http`), whose connection pool should be large enough for them. With
    /// `tls` the node is reached over HTTPS (the clients' TLS configuration presents this gateway's certificate).
    public init(node: NodeID, jurisdiction: Jurisdiction, address: String, http: HTTPClient, streams: HTTPClient? = nil,
                token: String?, tls: Bool = false, timeout: TimeAmount = .seconds(30)) {
        self.nodeID = node
        self.jurisdiction = jurisdiction
        self.baseURL = "\(tls ? "https" : "http")://\(address)\(NodeWire.prefix)"
        self.http = http
        self.streams = streams ?? http
        self.token = token
        self.timeout = timeout
    }

    public var isLikelyAvailable: Bool { up.load(ordering: .relaxed) }

    /// Asks the node for its status; marks it up or down accordingly.
    public func ping() async -> Bool {
        let ok = (try? await call(.GET, "health", [], timeout: .seconds(1), probe: true)) != nil
        up.store(ok, ordering: .relaxed)
        return ok
    }

    private struct Reply {
        var status: Int
        var buffer: ByteBuffer
        var body: [UInt8] { Array(buffer.readableBytesView) }
    }

    /// Performs one call and collects its answer. Transport failures become ``NodeError/unavailable``; node errors
    /// are rebuilt from the error header.
    private func call(_ method: HTTPMethod, _ endpoint: String, _ query: [(String, String)], body: [UInt8]? = nil,
                      accept404: Bool = false, timeout: TimeAmount? = nil, probe: Bool = false) async throws -> Reply {
        let deadline = NIODeadline.now() + (timeout ?? self.timeout)
        let (status, response) = try await open(method, endpoint, query, body: body.map { .bytes(ByteBuffer(bytes: $0)) },
                                                accept404: accept404, deadline: deadline, probe: probe)
        do {
            return Reply(status: status, buffer: try await response.body.collect(upTo: NodeWire.bodyBytesMax + 16 * 1024 * 1024))
        } catch {
            up.store(false, ordering: .relaxed)
            throw NodeError.unavailable(nodeID)
        }
    }

    /// Sends one request and returns its answer with the body still to read, or throws the node's error.
    func open(_ method: HTTPMethod, _ endpoint: String, _ query: [(String, String)],
                      body: HTTPClientRequest.Body?, accept404: Bool = false, deadline: NIODeadline,
                      probe: Bool = false, via client: HTTPClient? = nil) async throws
        -> (status: Int, response: HTTPClientResponse)
    {
        // Circuit breaker: while the node is believed down, calls fail at once instead of each waiting for a
        // connect timeout; the health monitor's ping (a probe) closes the circuit when the node answers again.
        guard probe || up.load(ordering: .relaxed) else { throw NodeError.unavailable(nodeID) }
        var url = baseURL + endpoint
        if !query.isEmpty { url += "?" + query.map { "\($0.0)=\($0.1)" }.joined(separator: "&") }
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.body = body
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
        }
        let response: HTTPClientResponse
        do {
            response = try await (client ?? http).execute(request, deadline: deadline)
        } catch {
            // A call its caller gave up on says nothing about the node.
            if !Task.isCancelled { up.store(false, ordering: .relaxed) }
            throw NodeError.unavailable(nodeID)
        }
        up.store(true, ordering: .relaxed)
        let status = Int(response.status.code)
        if (200..<300).contains(status) || (accept404 && status == 404 && response.headers[NodeWire.errorHeader].isEmpty) {
            return (status, response)
        }
        let message = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
        let kind = response.headers.first(name: NodeWire.errorHeader)
        if kind == "wrong-jurisdiction" {
            let own = response.headers.first(name: NodeWire.jurisdictionHeader).flatMap(Jurisdiction.init) ?? self.jurisdiction
            let requested = query.first { $0.0 == "j" }.flatMap { Jurisdiction($0.1) } ?? self.jurisdiction
            throw NodeError.wrongJurisdiction(node: nodeID, nodeJurisdiction: own, requested: requested)
        }
        guard let kind, kind != "io" else { throw NodeError.io("storage node \(nodeID) answered \(status): \(message)") }
        let index = query.first { $0.0 == "index" || $0.0 == "from" }.flatMap { UInt32($0.1) } ?? 0
        throw nodeError(kind: kind, message: message, version: query.first { $0.0 == "version" }?.1, index: index)
    }

    /// The typed error a node reported by its kind (an error header or an error frame).
    func nodeError(kind: String, message: String, version: String?, index: UInt32) -> NodeError {
        switch kind {
        case "unavailable": return .unavailable(nodeID)
        case "missing-segment": return .missingSegment(node: nodeID, version: version ?? "", index: index)
        case "corrupt": return .corrupt(message)
        case "stamp-mismatch": return .stampMismatch(message)
        case "object-locked": return .objectLocked(message)
        default: return .io(message)
        }
    }

    func hex(_ text: String) -> String { Hex.encode(Array(text.utf8)) }

    /// One change, one request: `POST /v1/change` (``NodeWire/encode(_:)``), answering `committed` or `superseded`.
    public func startCommit(_ change: NodeChange,
                            done: @escaping @Sendable (Result<CommitOutcome, any Error>) -> Void) {
        Task {
            do { done(.success(try await apply(change))) } catch { done(.failure(error)) }
        }
    }

    public func apply(_ change: NodeChange) async throws -> CommitOutcome {
        // A repair reads its whole extent and a purge its whole bucket: the long timeout of the reads that do.
        let long: Bool
        switch change {
        case .repairSegments, .purge: long = true
        default: long = false
        }
        let reply = try await call(.POST, "change", [("j", NodeWire.jurisdiction(of: change).code)],
                                   body: NodeWire.encode(change), timeout: long ? .seconds(3600) : nil)
        switch reply.body {
        case Array("committed".utf8): return .committed
        case Array("superseded".utf8): return .superseded
        default: throw NodeError.corrupt("storage node \(nodeID) answered a change with \(String(decoding: reply.body, as: UTF8.self))")
        }
    }

    public func manifest(_ jurisdiction: Jurisdiction, bucket: String, key: String) async throws -> ObjectManifest? {
        let reply = try await call(.GET, "manifest", [("j", jurisdiction.code), ("bucket", hex(bucket)), ("key", hex(key))],
                                   accept404: true)
        return reply.status == 404 ? nil : try decode { try ObjectManifest(decoding: reply.body) }
    }

    public func attest(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionSelector?,
                       nonce: String, replicas: [NodeID]) async throws -> ReplicaStatement
    {
        var selected = [(String, String)]()
        switch version {
        case nil: break
        case .null?: selected.append(("null", "1"))
        case .id(let id, let sequence)?: selected += [("version", id.description), ("sequence", String(sequence))]
        }
        let reply = try await call(.POST, "attest", selected + [("j", jurisdiction.code), ("bucket", hex(bucket)), ("key", hex(key)),
                                                     ("nonce", hex(nonce)),
                                                     ("replicas", hex(replicas.map(\.rawValue).joined(separator: ",")))],
                                   timeout: .seconds(600))
        return try decode { try JSONDecoder().decode(ReplicaStatement.self, from: Data(reply.body)) }
    }

    public func attestBucket(_ jurisdiction: Jurisdiction, bucket: String, nonce: String, sampled: [String])
        async throws -> BucketStatement
    {
        let reply = try await call(.POST, "attest-bucket", [("j", jurisdiction.code), ("bucket", hex(bucket)),
                                                            ("nonce", hex(nonce))],
                                   body: Array(try JSONEncoder().encode(sampled)), timeout: .seconds(600))
        return try decode { try JSONDecoder().decode(BucketStatement.self, from: Data(reply.body)) }
    }

    /// One segment in a plain `GET /v1/segment` (a reader of one segment needs no stream).
    func fetchSegment(_ jurisdiction: Jurisdiction, version: VersionID, index: UInt32) async throws -> ByteBuffer {
        try await call(.GET, "segment", [("j", jurisdiction.code), ("version", version.description),
                                         ("index", String(index))]).buffer
    }

    public func list(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8], from: [UInt8], limit: Int,
                     space: ListedSpace) async throws -> [ObjectManifest]
    {
        let reply = try await call(.GET, "list", [("j", jurisdiction.code), ("bucket", hex(bucket)),
                                                  ("prefix", Hex.encode(prefix)), ("from", Hex.encode(from)),
                                                  ("limit", String(min(limit, Int(UInt32.max)))),
                                                  ("space", space.rawValue)])
        return try decode { try NodeWire.unframe(reply.body).map { try ObjectManifest(decoding: $0) } }
    }

    public func version(_ jurisdiction: Jurisdiction, bucket: String, key: String, selector: VersionSelector)
        async throws -> ObjectManifest?
    {
        var query = [("j", jurisdiction.code), ("bucket", hex(bucket)), ("key", hex(key))]
        switch selector {
        case .null: query.append(("null", "1"))
        case .id(let version, let sequence): query += [("version", version.description), ("sequence", String(sequence))]
        }
        let reply = try await call(.GET, "version", query, accept404: true)
        return reply.status == 404 ? nil : try decode { try ObjectManifest(decoding: reply.body) }
    }

    public func listVersions(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8],
                             from position: VersionPosition, limit: Int) async throws -> VersionBatch {
        let reply = try await call(.GET, "versions", [("j", jurisdiction.code), ("bucket", hex(bucket)),
                                                      ("prefix", Hex.encode(prefix)),
                                                      ("from", Hex.encode(position.encoded())),
                                                      ("limit", String(min(limit, Int(UInt32.max))))])
        return try decode { try NodeWire.decodeVersions(reply.body) }
    }

    public func summarize(_ jurisdiction: Jurisdiction, bucket: String, plan: SummaryPlan) async throws
        -> BucketSummary
    {
        let reply = try await call(.POST, "summary", [("j", jurisdiction.code), ("bucket", hex(bucket))],
                                   body: Array(try JSONEncoder().encode(plan)), timeout: .seconds(3600))
        return try decode { try BucketSummary(decoding: reply.body) }
    }

    public func listPartitions(_ jurisdiction: Jurisdiction, bucket: String, space: RecordSpace,
                               partitions: KeyPartitions, from position: VersionPosition, limit: Int) async throws
        -> VersionBatch
    {
        let reply = try await call(.GET, "partitions", [("j", jurisdiction.code), ("bucket", hex(bucket)),
                                                        ("space", space.rawValue),
                                                        ("partitions", Hex.encode(partitions.encoded())),
                                                        ("from", Hex.encode(position.encoded())),
                                                        ("limit", String(min(limit, Int(UInt32.max))))])
        return try decode { try NodeWire.decodeVersions(reply.body) }
    }

    public func indexIntents(_ jurisdiction: Jurisdiction, from: [UInt8], olderThanMillis: Int64, limit: Int)
        async throws -> IntentPage
    {
        let reply = try await call(.GET, "intents", [("j", jurisdiction.code), ("from", Hex.encode(from)),
                                                     ("older", String(olderThanMillis)), ("limit", String(limit))])
        return try decode { try IntentPage(decoding: reply.body) }
    }

    public func scrubState(_ jurisdiction: Jurisdiction) async throws -> ScrubState {
        let reply = try await call(.GET, "scrub", [("j", jurisdiction.code)])
        return try decode { try JSONDecoder().decode(ScrubState.self, from: Data(reply.body)) }
    }

    public func scrubNow(_ jurisdiction: Jurisdiction) async throws -> ScrubState {
        let reply = try await call(.POST, "scrub", [("j", jurisdiction.code)], timeout: .seconds(3600))
        return try decode { try JSONDecoder().decode(ScrubState.self, from: Data(reply.body)) }
    }

    public func segmentDigests(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID,
                               sequence: UInt64, extent: VersionID) async throws -> ExtentDigests? {
        let reply = try await call(.GET, "digests", [("j", jurisdiction.code), ("bucket", hex(bucket)), ("key", hex(key)),
                                                     ("version", version.description), ("sequence", String(sequence)),
                                                     ("extent", extent.description)], accept404: true,
                                   timeout: .seconds(3600))
        return reply.status == 404 ? nil : try decode { try JSONDecoder().decode(ExtentDigests.self, from: Data(reply.body)) }
    }

    public func compact(_ jurisdiction: Jurisdiction) async throws {
        _ = try await call(.POST, "compact", [("j", jurisdiction.code)], timeout: .seconds(600))
    }

    public func status() async -> NodeStatus {
        guard let reply = try? await call(.GET, "status", [], timeout: .seconds(5), probe: true),
              let status = try? NodeWire.decodeStatus(reply.body) else {
            return NodeStatus(node: nodeID, jurisdiction: jurisdiction, online: false, objectCount: 0,
                              uploadsInProgress: 0, segmentCount: 0)
        }
        return status
    }

    public func upload(_ jurisdiction: Jurisdiction, bucket: String, key: String, upload: VersionID) async throws
        -> ObjectManifest?
    {
        let reply = try await call(.GET, "upload", [("j", jurisdiction.code), ("bucket", hex(bucket)), ("key", hex(key)),
                                                    ("upload", upload.description)], accept404: true)
        return reply.status == 404 ? nil : try decode { try ObjectManifest(decoding: reply.body) }
    }

    public func listUploads(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8], from: [UInt8], limit: Int)
        async throws -> [ObjectManifest]
    {
        let reply = try await call(.GET, "uploads", [("j", jurisdiction.code), ("bucket", hex(bucket)),
                                                     ("prefix", Hex.encode(prefix)), ("from", Hex.encode(from)),
                                                     ("limit", String(min(limit, Int(UInt32.max))))])
        return try decode { try NodeWire.unframe(reply.body).map { try ObjectManifest(decoding: $0) } }
    }

    public func parts(_ jurisdiction: Jurisdiction, upload: VersionID, from: UInt32, limit: Int) async throws
        -> [PartRecord]
    {
        let reply = try await call(.GET, "parts", [("j", jurisdiction.code), ("upload", upload.description),
                                                   ("from", String(from)), ("limit", String(min(limit, Int(UInt32.max))))])
        return try decode { try NodeWire.unframe(reply.body).map { try PartRecord(decoding: $0) } }
    }

    private func decode<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw NodeError.corrupt("answer of storage node \(nodeID): \(error)") }
    }
}
