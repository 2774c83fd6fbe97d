import Foundation
import Hashing
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ObjectModel
import StorageNode

/// Serves one storage node's protocol over HTTP (`qantara node`). Every call is forwarded to the in-process node,
/// whose blocking work runs on its thread pool; bodies are bounded by one segment.
public struct NodeServer: HTTPResponder {
    public typealias Context = BasicRequestContext

    let node: LocalStorageNode
    /// When set, every request must carry `Authorization: Bearer <token>` (until mutual TLS replaces it).
    let token: [UInt8]?
    let logger: Logger

    public init(node: LocalStorageNode, token: String?, logger: Logger) {
        self.node = node
        self.token = token.map { Array($0.utf8) }
        self.logger = logger
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        do {
            if let token {
                let sent = request.headers[.authorization].map { Array($0.utf8) } ?? []
                guard ConstantTime.equals(sent, Array("Bearer ".utf8) + token) else {
                    return Self.plain(.unauthorized, "missing or wrong node token")
                }
            }
            let query = Self.query(request.uri.query ?? "")
            return try await route(request, query: query)
        } catch let error as NodeError {
            return Self.error(error)
        } catch let error as FormatError {
            return Self.plain(.badRequest, "malformed request: \(error)")
        } catch let error as ParameterError {
            return Self.plain(.badRequest, error.message)
        }
    }

    private func route(_ request: Request, query: [String: String]) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix(NodeWire.prefix) else { return Self.plain(.notFound, "unknown path") }
        let endpoint = String(path.dropFirst(NodeWire.prefix.count))
        if endpoint == "health", request.method == .get {
            return node.isOnline ? Response(status: .noContent) : Self.error(.unavailable(node.nodeID))
        }
        if endpoint == "status", request.method == .get {
            return Self.bytes(NodeWire.encodeStatus(await node.status()))
        }
        let jurisdiction = try Self.jurisdiction(query)
        switch (request.method, endpoint) {
        case (.get, "segment"):
            let segment = try await node.segment(jurisdiction, version: try Self.version(query, "version"),
                                                 index: try Self.number(query, "index"))
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: segment))
        case (.put, "segments"):
            return try await storeSegments(request, jurisdiction: jurisdiction, query: query)
        case (.get, "segments"):
            return try await sendSegments(jurisdiction: jurisdiction, query: query)
        case (.post, "change"):
            let change = try NodeWire.decodeChange(try await Self.body(request), jurisdiction: jurisdiction)
            let outcome = try await node.apply(change)
            return Self.plain(.ok, outcome == .committed ? "committed" : "superseded")
        case (.post, "attest"):
            let replicas = try Self.text(query, "replicas").split(separator: ",").map { name in
                guard let id = NodeID(String(name)) else { throw ParameterError(message: "replicas: \(name) is no node id") }
                return id
            }
            let version: VersionSelector? = query["null"] != nil ? .null
                : try query["version"].map { _ in .id(try Self.version(query, "version"), sequence: try Self.sequence(query)) }
            let statement = try await node.attest(jurisdiction, bucket: try Self.text(query, "bucket"),
                                                  key: try Self.text(query, "key"), version: version,
                                                  nonce: try Self.text(query, "nonce"), replicas: replicas)
            return Self.bytes(Array(try JSONEncoder().encode(statement)))
        case (.post, "attest-bucket"):
            guard let sampled = try? JSONDecoder().decode([String].self, from: Data(try await Self.body(request))),
                  sampled.count <= Limits.bucketAttestationSamplesMax else {
                throw ParameterError(message: "the body is a JSON list of at most \(Limits.bucketAttestationSamplesMax) keys")
            }
            let statement = try await node.attestBucket(jurisdiction, bucket: try Self.text(query, "bucket"),
                                                        nonce: try Self.text(query, "nonce"), sampled: sampled)
            return Self.bytes(Array(try JSONEncoder().encode(statement)))
        case (.get, "manifest"):
            guard let manifest = try await node.manifest(jurisdiction, bucket: try Self.text(query, "bucket"),
                                                         key: try Self.text(query, "key")) else {
                return Self.plain(.notFound, "no manifest")
            }
            return Self.bytes(manifest.encoded())
        case (.get, "list"):
            guard let space = ListedSpace(rawValue: query["space"] ?? ListedSpace.objects.rawValue) else {
                throw ParameterError(message: "space: objects or index")
            }
            let manifests = try await node.list(jurisdiction, bucket: try Self.text(query, "bucket"),
                                                prefix: try Self.hex(query, "prefix"), from: try Self.hex(query, "from"),
                                                limit: Int(try Self.number(query, "limit")), space: space)
            return Self.bytes(NodeWire.frame(manifests.map { $0.encoded() }))
        case (.get, "version"):
            let selector: VersionSelector = query["null"] != nil ? .null
                : .id(try Self.version(query, "version"), sequence: try Self.sequence(query))
            guard let manifest = try await node.version(jurisdiction, bucket: try Self.text(query, "bucket"),
                                                        key: try Self.text(query, "key"), selector: selector) else {
                return Self.plain(.notFound, "no such version")
            }
            return Self.bytes(manifest.encoded())
        case (.get, "versions"):
            let position: VersionPosition
            do { position = try VersionPosition(decoding: try Self.hex(query, "from")) } catch {
                throw ParameterError(message: "from: \(error)")
            }
            let limit = Int(try Self.number(query, "limit"))
            guard limit > 0 else { throw ParameterError(message: "limit must be positive") }
            let batch = try await node.listVersions(jurisdiction, bucket: try Self.text(query, "bucket"),
                                                    prefix: try Self.hex(query, "prefix"), from: position, limit: limit)
            return Self.bytes(NodeWire.encodeVersions(batch))
        case (.post, "summary"):
            let plan: SummaryPlan
            do { plan = try JSONDecoder().decode(SummaryPlan.self, from: Data(try await Self.body(request))) } catch {
                throw ParameterError(message: "the body is a JSON summary plan: \(error)")
            }
            let summary = try await node.summarize(jurisdiction, bucket: try Self.text(query, "bucket"), plan: plan)
            return Self.bytes(summary.encoded())
        case (.get, "partitions"):
            guard let space = RecordSpace(rawValue: query["space"] ?? "") else {
                throw ParameterError(message: "space: versions, current or index")
            }
            let position: VersionPosition, partitions: KeyPartitions
            do {
                position = try VersionPosition(decoding: try Self.hex(query, "from"))
                partitions = try KeyPartitions(decoding: try Self.hex(query, "partitions"))
            } catch let error as ParameterError { throw error } catch {
                throw ParameterError(message: "from, partitions: \(error)")
            }
            let limit = Int(try Self.number(query, "limit"))
            guard limit > 0, limit <= Limits.listBatchPerNode else {
                throw ParameterError(message: "limit must be 1 to \(Limits.listBatchPerNode)")
            }
            let batch = try await node.listPartitions(jurisdiction, bucket: try Self.text(query, "bucket"), space: space,
                                                      partitions: partitions, from: position, limit: limit)
            return Self.bytes(NodeWire.encodeVersions(batch))
        case (.get, "intents"):
            let limit = Int(try Self.number(query, "limit"))
            guard limit > 0, limit <= Limits.listBatchPerNode else {
                throw ParameterError(message: "limit must be 1 to \(Limits.listBatchPerNode)")
            }
            guard let older = query["older"].flatMap({ Int64($0) }), older >= 0 else {
                throw ParameterError(message: "older: milliseconds, at least 0")
            }
            let page = try await node.indexIntents(jurisdiction, from: try Self.hex(query, "from"),
                                                   olderThanMillis: older, limit: limit)
            return Self.bytes(page.encoded())
        case (.get, "scrub"):
            return Self.bytes(Array(try JSONEncoder().encode(try await node.scrubState(jurisdiction))))
        case (.post, "scrub"):
            return Self.bytes(Array(try JSONEncoder().encode(try await node.scrubNow(jurisdiction))))
        case (.get, "digests"):
            guard let digests = try await node.segmentDigests(jurisdiction, bucket: try Self.text(query, "bucket"),
                                                              key: try Self.text(query, "key"),
                                                              version: try Self.version(query, "version"),
                                                              sequence: try Self.sequence(query),
                                                              extent: try Self.version(query, "extent")) else {
                return Self.plain(.notFound, "no such version")
            }
            return Self.bytes(Array(try JSONEncoder().encode(digests)))
        case (.post, "compact"):
            try await node.compact(jurisdiction)
            return Response(status: .noContent)
        case (.get, "upload"):
            guard let template = try await node.upload(jurisdiction, bucket: try Self.text(query, "bucket"),
                                                       key: try Self.text(query, "key"),
                                                       upload: try Self.version(query, "upload")) else {
                return Self.plain(.notFound, "no upload")
            }
            return Self.bytes(template.encoded())
        case (.get, "uploads"):
            let uploads = try await node.listUploads(jurisdiction, bucket: try Self.text(query, "bucket"),
                                                     prefix: try Self.hex(query, "prefix"),
                                                     from: try Self.hex(query, "from"),
                                                     limit: Int(try Self.number(query, "limit")))
            return Self.bytes(NodeWire.frame(uploads.map { $0.encoded() }))
        case (.get, "parts"):
            let parts = try await node.parts(jurisdiction, upload: try Self.version(query, "upload"),
                                             from: try Self.number(query, "from"), limit: Int(try Self.number(query, "limit")))
            return Self.bytes(NodeWire.frame(parts.map { $0.encoded() }))
        default:
            if let answer = try await legacyChange(request, endpoint: endpoint, query: query, jurisdiction: jurisdiction) {
                return answer
            }
            return Self.plain(.notFound, "unknown endpoint \(request.method) \(endpoint)")
        }
    }

    /// `PUT /v1/segments`: stores a segment stream's segments as their frames arrive (one frame held at a time),
    /// and answers once every one is stored.
    private func storeSegments(_ request: Request, jurisdiction: Jurisdiction, query: [String: String]) async throws
        -> Response
    {
        let (bucket, key) = (try Self.text(query, "bucket"), try Self.text(query, "key"))
        let version = try Self.version(query, "version")
        var decoder = SegmentFrameDecoder()
        var stored = 0
        let upload = node.openSegmentUpload(jurisdiction, bucket: bucket, key: key, version: version)
        for try await var chunk in request.body {
            while let frame = try decoder.next(&chunk) {
                guard case .segment(let index, let bytes) = frame else {
                    throw ParameterError(message: "a segment upload carries segments only")
                }
                try await upload.write(index: index, bytes: Array(bytes.readableBytesView))
                stored += 1
            }
        }
        guard decoder.isAtFrameBoundary else { throw ParameterError(message: "segment stream ends inside a frame") }
        try await upload.finish()
        return Self.plain(.ok, String(stored))
    }

    /// `GET /v1/segments`: streams segments `from ..< from + count` of a version, reading each next one while the
    /// previous one is sent. An error on the first segment is the answer's status; a later one ends the stream with
    /// an error frame.
    private func sendSegments(jurisdiction: Jurisdiction, query: [String: String]) async throws -> Response {
        let version = try Self.version(query, "version")
        let (from, count) = (try Self.number(query, "from"), try Self.number(query, "count"))
        guard count > 0, UInt64(from) + UInt64(count) - 1 <= UInt64(UInt32.max) else {
            throw ParameterError(message: "count must be at least 1 and the last index within 32 bits")
        }
        let last = from + (count - 1)
        let node = self.node
        let first = try await node.segment(jurisdiction, version: version, index: from)
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var (index, segment) = (from, first)
            while true {
                let ahead = index == last ? nil : Task { [index] in
                    try await node.segment(jurisdiction, version: version, index: index + 1)
                }
                var header = ByteBufferAllocator().buffer(capacity: NodeWire.frameHeaderBytes)
                NodeWire.writeFrameHeader(.segment, index: index, length: segment.readableBytes, into: &header)
                try await writer.write(header)
                try await writer.write(segment)
                guard let ahead else { break }
                index += 1
                do {
                    segment = try await ahead.value
                } catch {
                    let kind = (error as? NodeError).map { Self.kind(of: $0).kind } ?? "io"
                    try await writer.write(NodeWire.frame(.error, index: index, payload: Array("\(kind)\u{0}\(error)".utf8)))
                    break
                }
            }
            try await writer.finish(nil)
        })
    }

    struct ParameterError: Error { let message: String }

    static func query(_ raw: String) -> [String: String] {
        var result = [String: String]()
        for part in raw.split(separator: "&") {
            let pieces = part.split(separator: "=", maxSplits: 1)
            result[String(pieces[0])] = pieces.count == 2 ? String(pieces[1]) : ""
        }
        return result
    }

    static func jurisdiction(_ query: [String: String]) throws -> Jurisdiction {
        guard let value = query["j"].flatMap(Jurisdiction.init) else { throw ParameterError(message: "parameter j required") }
        return value
    }

    static func hex(_ query: [String: String], _ name: String) throws -> [UInt8] {
        guard let value = query[name].flatMap({ Hex.decode($0) }) else {
            throw ParameterError(message: "hex parameter \(name) required")
        }
        return value
    }

    static func text(_ query: [String: String], _ name: String) throws -> String {
        guard let value = String(validating: try hex(query, name), as: UTF8.self) else {
            throw ParameterError(message: "parameter \(name) is not UTF-8")
        }
        return value
    }

    static func version(_ query: [String: String], _ name: String) throws -> VersionID {
        guard let value = VersionID(bytes: try hex(query, name)) else {
            throw ParameterError(message: "parameter \(name) must be 16 bytes")
        }
        return value
    }

    static func sequence(_ query: [String: String]) throws -> UInt64 {
        guard let text = query["sequence"], let value = UInt64(text) else {
            throw ParameterError(message: "sequence: a decimal sequence number is required")
        }
        return value
    }

    static func number(_ query: [String: String], _ name: String) throws -> UInt32 {
        guard let value = query[name].flatMap({ UInt32($0) }) else {
            throw ParameterError(message: "numeric parameter \(name) required")
        }
        return value
    }

    static func body(_ request: Request, limit: Int = NodeWire.bodyBytesMax) async throws -> [UInt8] {
        Array(try await request.body.collect(upTo: limit).readableBytesView)
    }

    static func bytes(_ bytes: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// A node error's status and kind (the value of ``NodeWire/errorHeader``).
    static func kind(of error: NodeError) -> (status: HTTPResponse.Status, kind: String) {
        switch error {
        case .unavailable: (.serviceUnavailable, "unavailable")
        case .wrongJurisdiction: (.conflict, "wrong-jurisdiction")
        case .stampMismatch: (.conflict, "stamp-mismatch")
        case .missingSegment: (.notFound, "missing-segment")
        case .corrupt: (.internalServerError, "corrupt")
        case .io: (.internalServerError, "io")
        case .objectLocked: (.forbidden, "object-locked")
        }
    }

    static func error(_ error: NodeError) -> Response {
        var headers = HTTPFields()
        let (status, kind) = Self.kind(of: error)
        if case .wrongJurisdiction(_, let own, _) = error {
            headers[.init(NodeWire.jurisdictionHeader)!] = own.code
        }
        headers[.init(NodeWire.errorHeader)!] = kind
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: "\(error)")))
    }
}
